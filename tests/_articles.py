"""A verified, finalized sample article shared by the renderer and audience tests.

Built through the real pipeline steps (draft -> :func:`verify_article` ->
:func:`finalize`) from small documents, so the tests see what a reader would.
"""

from __future__ import annotations

from dataclasses import replace

from curbside.answer.base import finalize
from curbside.answer.verify import verify_article
from curbside.types import COMPOSED_CATEGORY, Article, ArticleSection, Citation, Claim, Document, Section

DOCS = {
    "pmid:101": Document(
        id="pmid:101",
        title="Drug-induced neutropenia: a systematic review and meta-analysis",
        sections=(
            Section(
                "Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole; "
                "the absolute neutrophil count (ANC) guides urgency. "
                "Neutropenia was observed in 40% of patients receiving clozapine.",
                "RESULTS",
            ),
        ),
        journal="Journal of Clinical Haematology",
        year=2021,
        identifiers={"pmid": "101", "doi": "10.1000/jch.2021.1"},
        publication_types=("Meta-Analysis",),
        kind="meta-analysis",
    ),
    "pmid:102": Document(
        id="pmid:102",
        title="Hypertension, myocardial infarction and leukopenia in older adults",
        sections=(
            Section(
                "Patients with hypertension and prior myocardial infarction had a higher etiology-adjusted "
                "mortality when leukopenia was present, which persisted after adjustment for comorbidity.",
                "CONCLUSIONS",
            ),
        ),
        journal="Cardiology Today",
        year=2019,
        identifiers={"pmid": "102"},
        publication_types=("Journal Article",),
    ),
    "pmid:103": Document(
        id="pmid:103",
        title="A retracted report on idiopathic leukopenia",
        sections=(
            Section("Idiopathic leukopenia is a diagnosis of exclusion after a careful drug history.", ""),
        ),
        journal="Retracted Reports",
        year=2015,
        identifiers={"pmid": "103"},
        retracted=True,
        kind="case-report",
        publication_types=("Case Reports", "Retracted Publication"),
    ),
}


def span(doc_id: str, sentence: str) -> Citation:
    body = DOCS[doc_id].body
    start = body.index(sentence)
    return Citation(doc_id, start, start + len(sentence), sentence)


def whole(doc_id: str) -> Citation:
    body = DOCS[doc_id].body
    return Citation(doc_id, 0, len(body), body)


def draft(title: str = "Causes of Leukopenia") -> Article:
    """A synthesizer-style draft: unchecked claims citing spans, no references."""
    return Article(
        question="What causes leukopenia?",
        qtype="causes",
        title=title,
        bottom_line=(
            Claim(
                "Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole; "
                "the absolute neutrophil count (ANC) guides urgency.",
                (whole("pmid:101"),),
            ),
            Claim(
                "Patients with hypertension and prior myocardial infarction had a higher mortality when "
                "leukopenia was present, which persisted after adjustment for comorbidity.",
                (whole("pmid:102"),),
            ),
        ),
        sections=(
            ArticleSection(
                "causes",
                "Causes",
                (
                    Claim(
                        "Neutropenia was observed in 55% of patients receiving clozapine.",
                        (whole("pmid:101"),),
                    ),
                ),
                subsections=(
                    ArticleSection(
                        "idiopathic",
                        "Idiopathic leukopenia",
                        (
                            Claim(
                                "Idiopathic leukopenia is a diagnosis of exclusion after a careful drug history.",
                                (whole("pmid:103"),),
                            ),
                        ),
                    ),
                ),
            ),
            ArticleSection(
                "pitfalls",
                "Pitfalls",
                (
                    Claim(
                        "Clozapine-induced neutropenia guides ANC urgency.",
                        (whole("pmid:101"),),
                    ),
                    Claim("Aspirin prevents myocardial infarction in elderly men.", (whole("pmid:102"),)),
                ),
            ),
        ),
    )


def sample_article(title: str = "Causes of Leukopenia") -> Article:
    """Verified and finalized: references numbered, a retracted source, a partial and a removed claim."""
    return finalize(verify_article(draft(title)), DOCS)


def with_text(article: Article, title: str, claim_text: str) -> Article:
    """The article with a new title and its first bottom-line claim reworded (for escaping tests)."""
    first = replace(article.bottom_line[0], text=claim_text)
    return replace(article, title=title, bottom_line=(first, *article.bottom_line[1:]))


TITLE_ONLY_DOC = Document(
    id="pmid:201",
    title="Agranulocytosis during mianserin treatment.",
    journal="British Medical Journal",
    year=1979,
    identifiers={"pmid": "201"},
    kind="case-report",
    publication_types=("Case Reports",),
)


def title_only_article() -> Article:
    """The sample article plus a claim citing the title of a record without abstract."""
    quote = "Agranulocytosis during mianserin treatment"
    claim = Claim(
        f'Reported in a case report titled "{quote}".', (Citation("pmid:201", 0, len(quote), quote, "title"),)
    )
    base = draft()
    causes = replace(base.sections[0], claims=(*base.sections[0].claims, claim))
    article = replace(base, sections=(causes, *base.sections[1:]))
    return finalize(verify_article(article), {**DOCS, TITLE_ONLY_DOC.id: TITLE_ONLY_DOC})


def composed_article() -> Article:
    """The sample article with its bottom line composed from two claims and its first section's claim
    composed into one sentence (as :mod:`curbside.answer.compose` writes them)."""
    base = sample_article()
    first = base.sections[0].claims[0]
    other = base.sections[1].claims[0]

    def composed(text: str, *claims: Claim) -> Claim:
        citations = tuple(c for claim in claims for c in claim.citations)
        return Claim(text, citations, verdict="supported", category=COMPOSED_CATEGORY)

    lead = composed("Drugs and infections are reported causes of leukopenia.", first, other)
    section = replace(base.sections[0], claims=(composed("Two drugs are reported causes.", first),))
    return replace(base, bottom_line=(lead,), sections=(section, *base.sections[1:]))
