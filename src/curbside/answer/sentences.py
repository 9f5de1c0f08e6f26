"""Candidate sentences: every sentence of the retrieved passages, scored for how well it answers.

Shared by the extractive synthesizer (which quotes them) and the yes/no verdict
(:mod:`curbside.answer.yesno`).  A :class:`Candidate` keeps the exact span
of :attr:`Document.body` it came from, so whatever quotes it can cite it.

The score multiplies, for one sentence: its relevance (its own overlap with the
query's concepts, synonyms, narrower terms and keywords, plus a quarter for
its document's title and MeSH), the hit's score relative to the best hit, the
document's evidence weight, the weight of the abstract section it sits in
(conclusions and results over background and methods), and its quality
(methods descriptions, very short or long sentences, number dumps and
questions are penalised).

A record without any abstract contributes its *title* (its placeholder
``TITLE`` chunk has no text, :mod:`curbside.ingestion.chunking`): one candidate whose
span indexes :attr:`Document.title` (``part == "title"``), judged by a title's
own quality rules (a noun phrase is fine, a question is not) and scored at
:data:`TITLE_ONLY_FACTOR` so that an abstract sentence saying as much comes
first.  Its claim never restates the title as a general fact: it reads
``Reported in a case report titled "Agranulocytosis during mianserin
treatment".`` (:func:`title_claim_text`), and the verifier checks the quoted
title against the cited span (:func:`quoted_title`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from curbside.answer.arms import Arms, arms_of
from curbside.answer.context import antecedent_fits, needs_antecedent, provisional
from curbside.answer.valence import direction
from curbside.datafiles import cues, load_data, rules_of
from curbside.ingestion.chunking import TITLE_SECTION, is_title_chunk, split_sentences, title_span
from curbside.retrieval.evidence import animal_only, document_weight, evidence_label
from curbside.retrieval.questions import americanise, natural_order
from curbside.types import SECTION_SEPARATOR, Citation, CitedPart, Claim, Document, Hit, Query

__all__ = [
    "SUMMARY_CATEGORY",
    "Candidate",
    "QueryTerms",
    "candidate_sentences",
    "cues",
    "design_noun",
    "document_text",
    "jaccard",
    "on_topic_documents",
    "query_terms",
    "quoted_title",
    "section_weight",
    "stems",
    "title_claim_parts",
    "title_claim_text",
    "title_context",
]

_RULES: Final = load_data(
    "sentences.json",
    "candidate sentence cues",
    rules_of(
        "methods", "aim_start", "lead_marker", "section_weights", "design_nouns", "frame_words", "list_nouns"
    ),
)


_TOKEN: Final = re.compile(r"[a-z0-9]+")
#: A parenthesised count or share: "(n=27)", "(19.1%)", "(n = 3, 12%)".
_STAT: Final = re.compile(r"\((?:n\s*=\s*)?\d[\d.,]*\s*%?[^()]{0,12}\)", re.IGNORECASE)
#: This many parenthesised statistics make a sentence a table row in prose, not a statement.
_STAT_DUMP: Final = 4
_NUMBERISH: Final = re.compile(r"\S*\d\S*")
_ANY_WORD: Final = re.compile(r"\S+")
_METHODS_CUES: Final = cues(*_RULES["methods"])
_AIM_START: Final = re.compile(_RULES["aim_start"], re.IGNORECASE)
#: What a list question asks for, named: a sentence listing complications with their percentages is
#: a statement, not a table row.
_LIST_NOUNS: Final = re.compile(_RULES["list_nouns"], re.IGNORECASE)
_PRONOUN_START: Final = re.compile(r"(?:It|This|These|They|He|She|Its|Their)\b")
#: Leading discourse markers dropped from a claim when what follows starts like a sentence.
_LEAD_MARKER: Final = re.compile(_RULES["lead_marker"], re.IGNORECASE)
_TRUNCATED: Final = re.compile(r"\s*\(ABSTRACT TRUNCATED(?: AT \d+ WORDS)?\)\s*$", re.IGNORECASE)
#: Applied to sentences of documents about animals only (:func:`curbside.retrieval.evidence.animal_only`).
_ANIMAL_ONLY_FACTOR: Final = 0.5
# Structured-abstract labels and the weight of a sentence under them; first match wins, so
# "SUMMARY OF BACKGROUND DATA" is background and "MEASUREMENTS AND MAIN RESULTS" results.
_SECTION_WEIGHTS: Final = tuple(
    (cues(*alternatives), float(weight)) for alternatives, weight in _RULES["section_weights"]
)
_UNLABELLED_WEIGHT: Final = 0.95
#: Score factor of a title-only record's title: a finding stated in an abstract comes first.
TITLE_ONLY_FACTOR: Final = 0.8
#: How the design of a title-only record is named in its claim ("Reported in a case report titled ...").
_DESIGN_NOUNS: Final[dict[str, str]] = dict(_RULES["design_nouns"])
_TRANSLATED_NOTE: Final = " (English translation of the title)"
_TITLE_CLAIM: Final = re.compile(
    r'Reported in an? (?P<design>[a-z -]+) titled "(?P<title>[^"]+)"(?:'
    + re.escape(_TRANSLATED_NOTE)
    + r")?\."
)
#: Question words that name the kind of question, not its subject: matching them proves nothing.
_FRAME_WORDS: Final = " ".join(_RULES["frame_words"])


def _stem(word: str) -> str:
    # A light suffix strip so "leukopenic"/"leukopenia" and "infections"/"infection" meet.
    for suffix in ("ies", "es", "s", "ic", "ia", "al"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def stems(text: str) -> frozenset[str]:
    """The set of light stems of the words of ``text``, American spelling (what overlap is measured on)."""
    return frozenset(_stem(w) for w in _TOKEN.findall(americanise(text)))


_FRAME_STEMS: Final = stems(_FRAME_WORDS)


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """The query as stem sets: each concept's variants (with weights) and the keywords no concept covers."""

    concepts: tuple[tuple[tuple[frozenset[str], float], ...], ...]
    keywords: tuple[frozenset[str], ...]
    arms: Arms | None = None  # for yes/no evidence: which arm a comparative finding credits
    # For yes/no evidence: +1 when the question asks about a good outcome ("better prognosis"), -1 a
    # bad one ("increased risk"), 0 neither (curbside.answer.yesno.outcome_direction).
    direction: int = 0

    def overlap(self, words: frozenset[str]) -> float:
        """Share of the query found in ``words``, in [0, 1]: a concept weighs 1, a leftover keyword 0.5."""
        total = len(self.concepts) + 0.5 * len(self.keywords)
        if not total:
            return 0.0
        got = sum(
            max((w for stems, w in variants if stems <= words), default=0.0) for variants in self.concepts
        )
        got += 0.5 * sum(1 for k in self.keywords if k <= words)
        return got / total


def query_terms(query: Query) -> QueryTerms:
    """The query's concepts (text, preferred name, synonyms; narrower terms at 0.8) and its other keywords.

    Keywords that a concept already covers, and question-frame words such as
    "treated" or "causes", are left out: they would make any sentence look relevant.
    """
    concepts = []
    covered: set[str] = set()
    for concept in query.concepts:
        variants: dict[frozenset[str], float] = {}
        for term in (concept.text, natural_order(concept.preferred), *concept.synonyms):
            if found := stems(term):
                variants[found] = 1.0
                covered |= found
        for term in concept.narrower:  # "agranulocytosis" answers a leukopenia question, a little less
            if found := stems(natural_order(term)):
                variants.setdefault(found, 0.8)
        if variants:
            concepts.append(tuple(variants.items()))
    keywords: dict[frozenset[str], None] = {}
    for word in query.keywords:
        found = stems(word)
        if found and not found <= covered and not found <= _FRAME_STEMS:
            keywords[found] = None
    subject = frozenset({c.text for c in query.concepts} | set(query.keywords))
    return QueryTerms(tuple(concepts), tuple(keywords), arms_of(query.text, subject), direction(query.text))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence of a retrieved passage with everything that decides whether and where it goes."""

    document: Document
    start: int  # offsets into document.body
    end: int
    text: str  # == document.body[start:end]
    label: str  # abstract section label ("RESULTS"); "" when unlabelled
    rank: int  # rank of the hit it came from (0 = best)
    own: float  # query overlap of the sentence itself, in [0, 1]
    context: float  # query overlap of the document's title, MeSH and keywords, in [0, 1]
    relevance: float  # 0.75 * own + 0.25 * context
    quality: float  # 1.0, less for methods text, odd length, number dumps
    evidence: float  # evidence weight of the document
    score: float
    words: frozenset[str] = field(repr=False, compare=False)
    part: CitedPart = "body"  # "title": the title of a record without abstract; offsets index the title

    @property
    def key(self) -> tuple[str, int]:
        return (self.document.id, self.start)

    def claim(self, category: str = "") -> Claim:
        """An unchecked claim quoting this sentence and citing exactly its span.

        A title is quoted as what the record reports (:func:`title_claim_text`),
        never as a statement of fact.
        """
        citation = Citation(self.document.id, self.start, self.end, self.text, self.part)
        if self.part == "title":
            label = evidence_label(self.document.kind, self.document.publication_types)
            translated = self.document.title.lstrip().startswith("[")  # MEDLINE brackets translated titles
            text = title_claim_text(self.text, label, translated=translated)
            return Claim(text, (citation,), category=category, relevance=self.relevance)
        return Claim(self.text, (citation,), category=category, relevance=self.relevance)


#: :attr:`Claim.category` of a claim curbside composes to summarise other claims of the same article
#: ("Medications and toxins are reported as causes in 3 of the retrieved sources"): its citations are
#: those claims' spans, and the verifier accepts it only while every one of them survives verification.
SUMMARY_CATEGORY: Final = "summary of cited claims"


def design_noun(label: str) -> str:
    """How a sentence names a record of evidence label ``label``: "Research" -> "research article"."""
    return _DESIGN_NOUNS.get(label, "research article")


def title_context(doc: Document, subject: str) -> str:
    """What a reader needs before a sentence that reports a finding of ``doc`` without naming the
    question's ``subject``, which its title names: "In a 1978 research article on clozapine"."""
    noun = design_noun(evidence_label(doc.kind, doc.publication_types))
    when = f"{doc.year} " if doc.year else ""
    first = (when or noun)[:1].lower()
    article = "an" if first in "aeio8" or when.startswith(("11", "18")) else "a"
    return f"In {article} {when}{noun} on {subject}"


def title_claim_text(title: str, label: str, *, translated: bool = False) -> str:
    """``Reported in a case report titled "<title>".`` for a title-only record of design ``label``;
    ``translated`` says the quoted title is MEDLINE's English translation of a foreign-language one."""
    noun = design_noun(label)
    article = "an" if noun[:1] in "aeiou" else "a"
    note = _TRANSLATED_NOTE if translated else ""
    return f'Reported in {article} {noun} titled "{title}"{note}.'


def quoted_title(text: str) -> str | None:
    """The title a claim built by :func:`title_claim_text` quotes; ``None`` for any other claim."""
    parts = title_claim_parts(text)
    return parts[1] if parts else None


def title_claim_parts(text: str) -> tuple[str, str] | None:
    """``("case report", title)`` of a claim built by :func:`title_claim_text`; ``None`` for any other."""
    m = _TITLE_CLAIM.fullmatch(text.strip())
    return (m.group("design"), m.group("title")) if m else None


def section_weight(label: str) -> float:
    if not label:
        return _UNLABELLED_WEIGHT
    return next((w for pattern, w in _SECTION_WEIGHTS if pattern.search(label)), _UNLABELLED_WEIGHT)


def _quality(text: str) -> float:
    words = _ANY_WORD.findall(text)
    q = 1.0
    if len(words) < 6:
        q *= 0.3
    elif len(words) > 60:
        q *= 0.5
    numbers = len(_NUMBERISH.findall(text)) / len(words) if words else 0.0
    stat_dump = len(_STAT.findall(text)) >= _STAT_DUMP or text.count("%") >= _STAT_DUMP
    if numbers > 0.4 or (stat_dump and not _LIST_NOUNS.search(text)):
        q *= 0.4
    if _METHODS_CUES.search(text):
        q *= 0.4
    if text.endswith("?"):  # a question the authors asked states nothing
        q *= 0.3
    # The tail of a sentence the splitter broke, or its head ("... Malformations (ECLAM").
    if text[:1] in "([" or text[:1].islower() or text.count("(") > text.count(")"):
        q *= 0.4
    elif _AIM_START.match(text):  # "To examine whether p53 predicts response": the question, not a finding
        q *= 0.3
    elif _PRONOUN_START.match(text):  # "It is characterized by ...": what "it" is was said before
        q *= 0.6
    return q


def _title_quality(text: str) -> float:
    """A title is a noun phrase more often than a sentence: only a question or a stub is penalised."""
    words = _ANY_WORD.findall(text)
    q = 1.0
    if len(words) < 3:
        q *= 0.3
    if text.endswith("?"):  # "Is mianserin safe?" states nothing
        q *= 0.3
    numbers = len(_NUMBERISH.findall(text)) / len(words) if words else 0.0
    if numbers > 0.4:
        q *= 0.4
    return q


def _trim(text: str, start: int) -> tuple[str, int]:
    """Drop a leading "In conclusion," when the rest starts like a sentence, and MEDLINE's trailing
    "(ABSTRACT TRUNCATED AT 400 WORDS)"; the claim is still an exact span of the body."""
    tail = _TRUNCATED.search(text)
    if tail:
        text = text[: tail.start()]
    m = _LEAD_MARKER.match(text)
    if m and m.end() < len(text) and (text[m.end()].isupper() or text[m.end()].isdigit()):
        return text[m.end() :], start + m.end()
    return text, start


def _chunk_offset(hit: Hit, body: str) -> int | None:
    """Where the hit's chunk starts in the body; ``None`` when its text is not there (then never cite it)."""
    chunk = hit.chunk
    if chunk.text and body[chunk.start : chunk.start + len(chunk.text)] == chunk.text:
        return chunk.start
    found = body.find(chunk.text) if chunk.text else -1
    return found if found >= 0 else None


#: Longest quote that joins a sentence to the one its opening pronoun refers to.
_MAX_JOINED: Final = 450


def with_antecedents(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` of ``text`` with each sentence that opens with a pronoun ("It is characterized by
    ... leukopenia") joined to the sentence before it, so that a quote carries its own referent
    ("Hairy cell leukemia is a rare lymphoproliferative disorder.  It is characterized by ...").
    The joined span is contiguous text, so the quote stays exact.  A sentence is left alone when it
    opens its passage or the joined quote would run past :data:`_MAX_JOINED` characters; the
    verifier then drops it, as before."""
    out: list[tuple[int, int]] = []
    dangling = False  # whether out[-1] opens with a pronoun or is a pair (then it is no antecedent)
    for s, e in spans:
        needs = needs_antecedent(text[s:e])  # once per sentence: this runs for every retrieved one
        # A provisional sentence ("If these adverse effects are confirmed ...") would make the
        # sentence before it provisional too: it stays alone (and is dropped), its antecedent quotable.
        if (
            out
            and needs
            and not dangling
            and e - out[-1][0] <= _MAX_JOINED
            and not provisional(text[s:e])
            and antecedent_fits(text[s:e], text[out[-1][0] : out[-1][1]])
        ):
            out[-1] = (out[-1][0], e)
            dangling = True  # two sentences at most: a third that points back stays alone (dropped)
        else:
            out.append((s, e))
            dangling = needs
    return out


def candidate_sentences(query: Query, hits: Sequence[Hit]) -> list[Candidate]:
    """Every sentence of the hits' chunks, scored; best first, ties broken by document id and offset.

    Hits are ranked by score (stable for equal scores).  Retracted documents
    and chunks whose text is not in their document's body are skipped: a
    citation must point at text a reader can find.
    """
    terms = query_terms(query)
    ranked = sorted(hits, key=lambda h: -h.score)
    top = ranked[0].score if ranked else 0.0
    seen: set[tuple[str, int]] = set()
    # id -> body, section starts, section labels, context overlap, animal-study factor
    docs: dict[str, tuple[str, list[int], list[str], float, float]] = {}
    out: list[Candidate] = []
    for rank, hit in enumerate(ranked):
        doc = hit.document
        if doc.retracted:
            continue
        if doc.id not in docs:
            starts, labels, at = [], [], 0
            for section in doc.sections:
                starts.append(at)
                labels.append(section.label)
                at += len(section.text) + len(SECTION_SEPARATOR)
            meta = " ".join([doc.title, *(h.descriptor for h in doc.mesh), *doc.keywords])
            animal = _ANIMAL_ONLY_FACTOR if animal_only(doc) else 1.0
            docs[doc.id] = (doc.body, starts, labels, terms.overlap(stems(meta)), animal)
        body, starts, labels, context, animal = docs[doc.id]
        hit_weight = (0.5 + 0.5 * hit.score / top) if top > 0 else 1.0 / (1.0 + 0.1 * rank)
        evidence = hit.evidence if hit.evidence > 0 else document_weight(doc)
        if is_title_chunk(hit.chunk) and not doc.has_abstract:
            title = _title_candidate(doc, rank, context, hit_weight, evidence, animal, terms)
            if title is not None and title.key not in seen:
                seen.add(title.key)
                out.append(title)
            continue
        offset = _chunk_offset(hit, body)
        if offset is None:
            continue
        for s, e in with_antecedents(hit.chunk.text, split_sentences(hit.chunk.text)):
            text, start = _trim(hit.chunk.text[s:e], offset + s)
            if (doc.id, start) in seen:
                continue
            seen.add((doc.id, start))
            label = labels[bisect.bisect_right(starts, start) - 1] if starts else ""
            words = stems(text)
            own = terms.overlap(words)
            relevance = 0.75 * own + 0.25 * context
            quality = _quality(text)
            score = relevance * hit_weight * (0.6 + 0.4 * evidence) * section_weight(label) * quality * animal
            out.append(
                Candidate(
                    doc,
                    start,
                    start + len(text),
                    text,
                    label,
                    rank,
                    own,
                    context,
                    relevance,
                    quality,
                    evidence,
                    score,
                    words,
                )
            )
    out.sort(key=lambda c: (-c.score, c.document.id, c.start))
    return out


def _title_candidate(
    doc: Document,
    rank: int,
    context: float,
    hit_weight: float,
    evidence: float,
    animal: float,
    terms: QueryTerms,
) -> Candidate | None:
    """The title of a record without abstract as a candidate citing ``doc.title[start:end]``."""
    start, end = title_span(doc.title)
    if end <= start:
        return None
    text = doc.title[start:end]
    words = stems(text)
    own = terms.overlap(words)
    relevance = 0.75 * own + 0.25 * context
    quality = _title_quality(text)
    score = (
        relevance
        * hit_weight
        * (0.6 + 0.4 * evidence)
        * section_weight("")
        * quality
        * animal
        * TITLE_ONLY_FACTOR
    )
    return Candidate(
        doc,
        start,
        end,
        text,
        TITLE_SECTION,
        rank,
        own,
        context,
        relevance,
        quality,
        evidence,
        score,
        words,
        "title",
    )


#: A document must cover at least this share of what the best-matching one covers to be on topic.
RELATIVE_COVERAGE: Final = 0.75


def document_text(doc: Document) -> str:
    """Title, body, MeSH descriptors and keywords: what a document as a whole is about."""
    return " ".join([doc.title, doc.body, *(h.descriptor for h in doc.mesh), *doc.keywords])


def on_topic_documents(query: Query, hits: Sequence[Hit], *, min_coverage: float = 0.5) -> set[str]:
    """Ids of the hits' documents that, as a whole, cover at least ``min_coverage`` of the question
    and at least :data:`RELATIVE_COVERAGE` of what the best-matching document covers.

    A sentence matching one word of the question ("quantum" for "treatment of
    quantum chromodynamics in zebras") is no evidence when its document never
    mentions the rest: then the answer is "insufficient evidence".  With an
    abstract on mammography in women at hand, one that mentions only women is
    off topic.  Concepts, when the question has any, are what is measured:
    leftover keywords ("improve", "current") are often words an abstract on
    the very topic does not use.
    """
    terms = query_terms(query)
    if terms.concepts:
        terms = QueryTerms(terms.concepts, ())
    shares = {}
    for doc in {h.document.id: h.document for h in hits}.values():
        shares[doc.id] = terms.overlap(stems(document_text(doc)))
    floor = max(min_coverage, RELATIVE_COVERAGE * max(shares.values(), default=0.0))
    return {doc_id for doc_id, share in shares.items() if share >= floor and share > 0}


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0
