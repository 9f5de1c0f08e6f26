"""Core value types shared by every stage of the pipeline.

They are plain frozen dataclasses rather than pydantic models because the
MEDLINE parser builds tens of thousands per second and validation would cost
more than the XML parse itself.  Where untrusted data arrives as JSON (the
JSON Lines source, the HTTP API) it is validated with
``pydantic.TypeAdapter(Document)``, which understands dataclasses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

DocumentKind = Literal[
    "research",
    "review",
    "systematic-review",
    "meta-analysis",
    "rct",
    "guideline",
    "case-report",
    "editorial",
    "other",
]

#: Separator between sections in :attr:`Document.body`; chunk offsets count it.
SECTION_SEPARATOR = "\n\n"
#: ``Claim.category`` of a sentence a language model composed from verified claims
#: (:mod:`curbside.answer.compose`); its citations are those of every claim it rests on.
COMPOSED_CATEGORY = "composed from cited claims"
#: How a claim's note begins where it stands as a quote because its composed sentence failed a check.
COMPOSITION_FAILED = "shown as quoted: the composed sentence failed a check"


@dataclass(frozen=True, slots=True)
class Section:
    """A labelled block of text: an abstract part (BACKGROUND, RESULTS) or a body section."""

    text: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class MeshQualifier:
    name: str
    ui: str = ""
    major: bool = False


@dataclass(frozen=True, slots=True)
class MeshHeading:
    """A MeSH descriptor with its qualifiers, e.g. Leukopenia / chemically induced*."""

    descriptor: str
    ui: str = ""
    major: bool = False
    qualifiers: tuple[MeshQualifier, ...] = ()

    def __str__(self) -> str:
        star = "*" if self.major else ""
        if not self.qualifiers:
            return f"{self.descriptor}{star}"
        quals = ", ".join(q.name + ("*" if q.major else "") for q in self.qualifiers)
        return f"{self.descriptor}{star} / {quals}"


@dataclass(frozen=True, slots=True)
class Document:
    """One normalised source document (a PubMed record, a PMC article, a guideline).

    ``id`` is stable across sources: ``pmid:123``, ``pmcid:PMC9``, ``doi:10.x/y``
    or ``guideline:<slug>``.  ``identifiers`` holds every known identifier
    (``{"pmid": "123", "doi": "...", "pmcid": "PMC9"}``).
    """

    id: str
    title: str
    sections: tuple[Section, ...] = ()
    kind: DocumentKind = "research"
    source: str = ""
    journal: str | None = None
    journal_abbrev: str | None = None
    year: int | None = None
    pub_date: str | None = None
    authors: tuple[str, ...] = ()
    identifiers: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    publication_types: tuple[str, ...] = ()
    mesh: tuple[MeshHeading, ...] = ()
    chemicals: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    retracted: bool = False
    licence: str | None = None
    url: str | None = None
    issuer: str | None = None

    @property
    def body(self) -> str:
        """All section texts joined; chunk and citation offsets index into this string."""
        return SECTION_SEPARATOR.join(s.text for s in self.sections)

    @property
    def has_abstract(self) -> bool:
        return any(s.text.strip() for s in self.sections)

    @property
    def pmid(self) -> str | None:
        return self.identifiers.get("pmid")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the inverse is :func:`document_from_dict`."""
        return asdict(self)

    def content_hash(self) -> str:
        """A digest of everything stored; re-ingesting an unchanged record is a no-op."""
        payload = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def document_from_dict(data: dict[str, Any]) -> Document:
    """Build a :class:`Document` from :meth:`Document.to_dict` output (trusted data).

    Untrusted input goes through :func:`curbside.ingestion.sources.jsonl.parse_document`,
    which validates it first.
    """
    return Document(
        id=data["id"],
        title=data["title"],
        sections=tuple(Section(**s) for s in data.get("sections", ())),
        kind=data.get("kind", "research"),
        source=data.get("source", ""),
        journal=data.get("journal"),
        journal_abbrev=data.get("journal_abbrev"),
        year=data.get("year"),
        pub_date=data.get("pub_date"),
        authors=tuple(data.get("authors", ())),
        identifiers=dict(data.get("identifiers", {})),
        language=data.get("language"),
        publication_types=tuple(data.get("publication_types", ())),
        mesh=tuple(
            MeshHeading(
                descriptor=m["descriptor"],
                ui=m.get("ui", ""),
                major=m.get("major", False),
                qualifiers=tuple(MeshQualifier(**q) for q in m.get("qualifiers", ())),
            )
            for m in data.get("mesh", ())
        ),
        chemicals=tuple(data.get("chemicals", ())),
        keywords=tuple(data.get("keywords", ())),
        retracted=bool(data.get("retracted", False)),
        licence=data.get("licence"),
        url=data.get("url"),
        issuer=data.get("issuer"),
    )


@dataclass(frozen=True, slots=True)
class Deletion:
    """A source says these documents no longer exist (MEDLINE ``DeleteCitation``)."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record a source could not turn into a :class:`Document`; reported, then skipped."""

    source: str  # file path or URL
    position: str  # e.g. "record 1234, line 56789"
    message: str


Record = Document | Deletion | Malformed


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of a document's :attr:`Document.body`: ``body[start:end] == text``."""

    document_id: str
    ordinal: int
    section: str
    start: int
    end: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


@dataclass(frozen=True, slots=True)
class Concept:
    """A key idea of a question with the terms that may express it (see :mod:`curbside.retrieval.questions`)."""

    text: str  # as written in the question, e.g. "leucopenia"
    preferred: str  # normalised / MeSH name, e.g. "Leukopenia"
    synonyms: tuple[str, ...] = ()  # spelling variants, entry terms, abbreviations expanded
    narrower: tuple[str, ...] = ()  # narrower terms, e.g. "Neutropenia", "Lymphopenia", "Agranulocytosis"
    mesh_ui: str = ""


QuestionType = Literal[
    "definition", "causes", "diagnosis", "treatment", "dosing", "prognosis", "comparison", "yesno", "general"
]


@dataclass(frozen=True, slots=True)
class Query:
    """An analysed question: its type, concepts, keywords and search filters."""

    text: str
    qtype: QuestionType
    concepts: tuple[Concept, ...]
    keywords: tuple[str, ...]  # content words left after stop words, lowercased
    year_from: int | None = None
    year_to: int | None = None
    publication_types: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # DocumentKind filter
    exclude_retracted: bool = True
    # How many chunks of the store hold each query word, of ``corpus_chunks``: the rarity that tells the
    # question's subject from its frame (filled by the library from the store; empty: all words alike).
    word_counts: tuple[tuple[str, int], ...] = ()
    corpus_chunks: int = 0


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with every score that placed it, and its document's metadata.

    Scores are ``None`` where a method did not find the chunk (a dense-only hit
    has no lexical score).  ``score`` is the final ranking score.
    """

    chunk: Chunk
    document: Document
    score: float
    lexical: float | None = None
    dense: float | None = None
    fused: float = 0.0
    rerank: float | None = None
    evidence: float = 0.0
    rank_lexical: int | None = None
    rank_dense: int | None = None


# --- answers -------------------------------------------------------------------------------------

Verdict = Literal["supported", "partial", "unsupported", "unchecked"]
Audience = Literal["clinician", "student", "patient"]
YesNo = Literal["yes", "no", "uncertain"]
CitedPart = Literal["body", "title"]


@dataclass(frozen=True, slots=True)
class Citation:
    """A claim's pointer to evidence: a span of a document's :attr:`Document.body`.

    ``part`` says which text the offsets index: ``"body"`` (the abstract or
    full text) or ``"title"`` -- :attr:`Document.title`, cited only for a
    record without any abstract (a third of 1970s MEDLINE), whose title is the
    one statement its authors made that a reader can look up.
    """

    document_id: str
    start: int
    end: int
    quote: (
        str  # body[start:end] (title[start:end]), kept so a reader and the verifier need no store round trip
    )
    part: CitedPart = "body"


@dataclass(frozen=True, slots=True)
class Claim:
    """One sentence of an answer with the evidence it cites and the verifier's verdict on it."""

    text: str
    citations: tuple[Citation, ...]
    verdict: Verdict = "unchecked"
    support: float = 0.0  # verifier score in [0, 1]
    supporting: Citation | None = None  # the cited span that best supports the claim
    category: str = ""  # grouping label used by the synthesizer (e.g. "Medications")
    note: str = ""  # why the verifier judged it so
    # What the reader sees before the text, from the record rather than the quote: "In mice",
    # "In patients with systemic lupus erythematosus" (curbside.answer.context).
    context: str = ""
    relevance: float | None = None  # learned relevance to the question (curbside.models.relevance), if scored

    @property
    def shown(self) -> str:
        """The claim as a reader sees it: its context, then its text."""
        if not self.context:
            return self.text
        # "In rats: a 1.0 mg/kg dose ...", but "In rats: CBD ..." and "In mice: IL-6 ..." keep their capitals.
        lower = self.text[1:2].islower() or self.text.startswith("A ")
        return f"{self.context}: {self.text[:1].lower() + self.text[1:] if lower else self.text}"

    @property
    def document_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.document_id for c in self.citations))


@dataclass(frozen=True, slots=True)
class ArticleSection:
    """A headed part of an article; ``key`` is stable for review comments ("causes", "pitfalls")."""

    key: str
    heading: str
    claims: tuple[Claim, ...] = ()
    style: Literal["paragraph", "bullets"] = "bullets"
    subsections: tuple[ArticleSection, ...] = ()
    intro: str = ""  # uncited framing text written by curbside itself (never a clinical claim)

    def all_claims(self) -> tuple[Claim, ...]:
        out = list(self.claims)
        for sub in self.subsections:
            out.extend(sub.all_claims())
        return tuple(out)

    def map_claims(self, fn: Callable[[Claim], Claim]) -> ArticleSection:
        """This section with ``fn`` applied to each of its claims, subsections included."""
        return replace(
            self,
            claims=tuple(fn(c) for c in self.claims),
            subsections=tuple(s.map_claims(fn) for s in self.subsections),
        )


@dataclass(frozen=True, slots=True)
class Reference:
    """An entry of the reference list, numbered in order of first citation."""

    number: int
    document_id: str
    title: str
    journal: str | None
    year: int | None
    label: str  # Guideline / Meta-analysis / Systematic review / RCT / Review / Case report / Research
    pmid: str | None = None
    doi: str | None = None
    url: str | None = None
    retracted: bool = False


@dataclass(frozen=True, slots=True)
class ArticleWarning:
    code: Literal[
        "insufficient-evidence",
        "thin-evidence",
        "retracted-source",
        "conflicting-evidence",
        "claims-removed",
        "fallback",
        "partial-index",
        "identifiers-removed",
        "suspect-source",
        "partial-evidence",
        "composition",
    ]
    message: str


DISCLAIMER = (
    "This article was generated automatically from the cited literature for healthcare professionals. "
    "It is not a substitute for clinical judgement, local guidelines or the full text of the sources, "
    "and it has not been reviewed by a clinician unless marked as approved."
)


@dataclass(frozen=True, slots=True)
class Article:
    """A structured answer: title, bottom line, sections of claims, references and warnings."""

    question: str
    qtype: QuestionType
    title: str
    bottom_line: tuple[Claim, ...]
    sections: tuple[ArticleSection, ...]
    references: tuple[Reference, ...] = ()
    warnings: tuple[ArticleWarning, ...] = ()
    removed_claims: tuple[Claim, ...] = ()
    verdict: YesNo | None = None  # yes/no questions only
    audience: Audience = "clinician"
    disclaimer: str = DISCLAIMER
    metadata: dict[str, Any] = field(default_factory=dict)  # synthesizer, model, prompt, timings, corpus

    def all_claims(self) -> tuple[Claim, ...]:
        out = list(self.bottom_line)
        for section in self.sections:
            out.extend(section.all_claims())
        return tuple(out)

    def map_claims(self, fn: Callable[[Claim], Claim]) -> Article:
        """This article with ``fn`` applied to every claim it shows (bottom line and sections)."""
        return replace(
            self,
            bottom_line=tuple(fn(c) for c in self.bottom_line),
            sections=tuple(s.map_claims(fn) for s in self.sections),
        )

    @property
    def insufficient(self) -> bool:
        return any(w.code == "insufficient-evidence" for w in self.warnings)
