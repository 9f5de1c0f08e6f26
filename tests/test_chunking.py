from __future__ import annotations

import itertools

from curbside.ingestion.chunking import chunk_document, is_title_chunk, split_sentences, title_span
from curbside.types import Document, Section


def test_sentences_respect_abbreviations_and_decimals() -> None:
    text = (
        "Leukopenia (WBC < 4.0 x 10(9)/L) is common. It occurs e.g. after chemotherapy "
        '(Smith et al. 2020). J. Doe said "no." Results were 3.5 vs. 4.1! Done'
    )
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "Leukopenia (WBC < 4.0 x 10(9)/L) is common.",
        "It occurs e.g. after chemotherapy (Smith et al. 2020).",
        'J. Doe said "no."',
        "Results were 3.5 vs. 4.1!",
        "Done",
    ]


def test_empty_and_whitespace_text() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n ") == []


def test_chunks_are_exact_spans_of_the_body() -> None:
    long = " ".join(f"Sentence number {i} describes a finding in detail." for i in range(80))
    doc = Document(
        id="pmid:1",
        title="T",
        sections=(Section("Short background.", "BACKGROUND"), Section(long, "RESULTS"), Section("End.", "")),
    )
    chunks = chunk_document(doc, target=500)
    body = doc.body
    assert len(chunks) > 3
    for c in chunks:
        assert body[c.start : c.end] == c.text
        assert len(c.text) <= 500 or "." not in c.text[:-1]
    assert chunks[0].section.startswith("BACKGROUND")
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    # Every sentence is covered exactly once, in order.
    assert chunks[0].start == 0
    assert all(a.end < b.start for a, b in itertools.pairwise(chunks))


def test_small_sections_merge_and_labels_join() -> None:
    doc = Document(
        id="pmid:2", title="T", sections=(Section("A one.", "METHODS"), Section("B two.", "RESULTS"))
    )
    (chunk,) = chunk_document(doc, target=1000)
    assert chunk.section == "METHODS/RESULTS"
    assert chunk.text == "A one.\n\nB two."


def test_title_only_document_gets_one_empty_title_chunk() -> None:
    (chunk,) = chunk_document(Document(id="pmid:3", title="Only a title"))
    assert (chunk.section, chunk.text, chunk.start, chunk.end) == ("TITLE", "", 0, 0)


def test_overlong_sentence_is_cut_at_hard_limit() -> None:
    doc = Document(id="pmid:4", title="T", sections=(Section("x" * 2500),))
    chunks = chunk_document(doc, target=400, hard_limit=1000)
    assert [len(c.text) for c in chunks] == [1000, 1000, 500]


def test_title_span_drops_final_stop_and_translation_brackets() -> None:
    def span(title: str) -> str:
        start, end = title_span(title)
        return title[start:end]

    assert span("Agranulocytosis during mianserin treatment.") == "Agranulocytosis during mianserin treatment"
    assert (
        span("[Agranulocytosis after treatment with apridine].")
        == "Agranulocytosis after treatment with apridine"
    )
    assert span("[Leukopenia in typhoid (author's transl)].") == "Leukopenia in typhoid"
    assert span("Is leukopenia benign?") == "Is leukopenia benign?"
    assert title_span(" [ ]. ") == (0, 0)


def test_only_the_empty_title_chunk_is_a_title_chunk() -> None:
    title_only = chunk_document(Document(id="pmid:2", title="Leucopenia and mianserin."))
    with_text = chunk_document(Document(id="pmid:3", title="T", sections=(Section("Text here.", "TITLE"),)))
    assert is_title_chunk(title_only[0])
    assert not is_title_chunk(with_text[0])


def test_a_structured_abstracts_label_after_a_period_without_a_space_starts_a_sentence() -> None:
    text = "A defect of variable intensity.AIM: To estimate prevalence.PATIENTS AND METHODS: All cases. U.S.A. rates"
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "A defect of variable intensity.",
        "AIM: To estimate prevalence.",
        "PATIENTS AND METHODS: All cases.",
        "U.S.A. rates",
    ]
