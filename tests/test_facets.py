"""Evidence per facet: the sub-queries of curbside.retrieval.facets against a real SQLite store."""

from __future__ import annotations

import pytest

from conftest import make_doc
from curbside.retrieval.facets import (
    FACETS,
    build_facets,
    facet_hits,
    facet_queries,
    narrower_questions,
    subject_terms,
)
from curbside.retrieval.questions import analyse
from curbside.retrieval.retrieve import Retriever
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore
from curbside.types import Document, MeshHeading, MeshQualifier, Section


def write(store: SQLiteStore, docs: list[Document]) -> None:
    fp = store.file_progress("k") or FileProgress(key="k", path="test", source_type="test")
    store.write_batch(Batch(fp, documents=docs, records=len(docs)))


def doc(n: int, title: str, text: str, mesh: tuple[MeshHeading, ...] = ()) -> Document:
    return make_doc(n, title=title, sections=(Section(text, "RESULTS"),), mesh=mesh)


def test_a_causes_question_searches_the_condition_in_every_name_with_cause_words() -> None:
    queries = dict((f.key, m) for f, m in facet_queries(analyse("What are the causes of leukopenia?")))
    assert set(queries) == {f.key for f in FACETS["causes"]}
    etiology = queries["etiology"]
    subject, words = etiology.split(") AND (")
    # Both spellings and the narrower MeSH descriptors, never a plural the stemmer already covers.
    for term in ("leukopenia", "leucopenia", "agranulocytosis", "neutropenia"):
        assert f'"{term}"' in subject
    assert '"leukopenias"' not in subject
    assert '"induced"' in words and '"caused by"' in words


def test_an_adverse_effects_question_searches_the_drug_with_harm_words() -> None:
    (facet, match), *_ = facet_queries(analyse("What are the adverse effects of clozapine?"))
    assert facet.key == "harms" and "adverse effects" in facet.qualifiers
    assert match.startswith('("clozapine")') and '"toxicity"' in match


@pytest.mark.parametrize("question", ["What is leukopenia?", "Is clozapine safe in pregnancy?"])
def test_intents_without_facets_add_no_sub_query(question: str) -> None:
    assert facet_queries(analyse(question)) == []


def test_subject_terms_put_narrower_descriptors_in_natural_order() -> None:
    terms = subject_terms(analyse("What causes thrombocytopenia?"))
    assert terms[0] == "thrombocytopenia"
    assert "idiopathic thrombocytopenic purpura" in terms  # MeSH "Purpura, Thrombocytopenic, Idiopathic"


def test_facet_hits_find_what_the_main_search_missed_and_put_the_indexers_reading_first(
    store: SQLiteStore,
) -> None:
    induced = MeshHeading(
        "Leukopenia", "D007970", True, (MeshQualifier("chemically induced", "Q000139", True),)
    )
    write(
        store,
        [
            doc(1, "Leukopenia: a review of the causes", "Leukopenia has many causes in adults."),
            doc(
                2,
                "Agranulocytosis after treatment with aprindine",
                "Agranulocytosis was induced by aprindine.",
            ),
            doc(
                3,
                "Granulocyte counts",
                "Neutropenia following chemotherapy was induced in two patients.",
                (induced,),
            ),
            doc(4, "Heart failure", "Dyspnoea was induced by exercise."),
        ],
    )
    query = analyse("What are the causes of leukopenia?")
    retriever = Retriever(store)
    main = [h for h in retriever.search(query, 10) if h.document.id == "pmid:1"]
    hits, counts = facet_hits(retriever, query, exclude=main)
    ids = [h.document.id for h in hits]
    assert "pmid:1" not in ids  # already found by the main search
    assert "pmid:4" not in ids  # "induced", but not the condition
    assert ids[:2] == ["pmid:3", "pmid:2"]  # Leukopenia/chemically induced in MEDLINE's index comes first
    assert counts["etiology"] == 2


def test_a_facet_without_words_or_with_an_unknown_side_is_refused() -> None:
    bad = {"intents": {"causes": [{"key": "x", "subject": "condition", "words": [], "qualifiers": []}]}}
    with pytest.raises(ValueError, match="no words"):
        build_facets(bad)
    bad = {"intents": {"causes": [{"key": "x", "subject": "both", "words": ["a"], "qualifiers": []}]}}
    with pytest.raises(ValueError, match="condition or exposure"):
        build_facets(bad)


def test_narrower_questions_ask_the_same_of_each_narrower_descriptor() -> None:
    asked = [q.text for q in narrower_questions(analyse("What are the causes of leucopenia?"), limit=2)]
    assert asked == ["What are the causes of neutropenia?", "What are the causes of lymphopenia?"]
    assert narrower_questions(analyse("What are the adverse effects of clozapine?")) == []
