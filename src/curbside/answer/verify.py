"""Claim verification: does the passage a claim cites actually say what the claim says?

Every claim of a draft article is compared with each span it cites
(:attr:`Citation.quote`) and with the sentence-level pieces of that span
(single sentences and adjacent pairs, from :func:`curbside.ingestion.chunking.split_sentences`).
For each candidate span three checks run:

* **Lexical support** -- the share of the claim's content words found in the
  span, after light stemming ("associated" / "association" -> ``associ``) and
  British -> American spelling; a word that only shares a long prefix with a
  span word ("neutropenic" / "neutropenia") earns half credit.
* **Numbers** -- a number, dose, percentage or threshold stated in the claim
  must appear in the span ("40%" and "40 percent" are the same number).  A
  missing number caps the claim just below the *high* threshold: at most
  ``partial``, because a wrong dose is worse than a vague one.
* **Negation** -- a negation cue ("not", "no", "without", "never", "lack of")
  scopes over the next few content words up to a clause break.  If a word the
  claim and the span share is negated in one and not in the other, the score
  is multiplied by ``negation_factor`` (default: low enough that even a
  verbatim-looking claim becomes ``unsupported``).

With an embedder, cosine similarity between the claim and each candidate
(embedded in one batch for the whole article) is blended with the lexical
score; embeddings catch paraphrase but not negation or numbers, which is why
those two rules are applied after the blend.

A claim quoting the title of a record without abstract (every citation has
``part == "title"``; the claim reads ``Reported in a case report titled
"..."``, :func:`curbside.answer.sentences.title_claim_text`) is checked by
its quoted title against the cited title span; the frame around it names the
record's design, which comes from the record's metadata, not from the span.

A claim citing several spans is also scored against all of them together, so
a claim that combines two sources ("clozapine [1] and methotrexate [2]") can be
supported jointly.

Verdicts are ``supported`` (support >= ``high``), ``partial`` (>= ``low``) or
``unsupported``.  :func:`verify_article` never deletes silently: unsupported
claims move to :attr:`Article.removed_claims` with their verdict and a note,
partial claims stay (renderers mark them), and the counts go into
``metadata["verification"]``.
"""

from __future__ import annotations

import functools
import itertools
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from curbside.answer.context import judge_claims
from curbside.answer.sentences import SUMMARY_CATEGORY, quoted_title
from curbside.datafiles import load_data, rules_of
from curbside.errors import InputError, ModelError
from curbside.ingestion.chunking import split_sentences
from curbside.ingestion.screening import describe, screen
from curbside.retrieval.embeddings import Embedder
from curbside.retrieval.questions import americanise
from curbside.types import Article, ArticleSection, Citation, Claim, Query, Verdict
from curbside.wording import count

_RULES: Final = load_data("verify_words.json", "verifier word lists", rules_of("stop_words", "suffixes"))
#: Sections written by curbside itself (glossary, general safety advice): uncited by design, never verified.
AUTHORED_SECTION_KEYS: Final = frozenset({"glossary", "seek-care"})


@dataclass(frozen=True, slots=True)
class VerifyThresholds:
    """Cut-offs and weights of the verifier; recorded with every verified article.

    ``high``/``low``: support needed for ``supported``/``partial``.
    ``lexical_weight``: share of the lexical score in the blend when an embedder
    is given (the rest is the cosine similarity).  ``negation_factor``: multiplier
    applied on a negation mismatch.  ``sentence_margin``: the supporting span is
    the shortest candidate scoring within this margin of the best one, so a reader
    is pointed at a sentence rather than a whole chunk when the sentence suffices.
    """

    high: float = 0.7
    low: float = 0.45
    lexical_weight: float = 0.6
    negation_factor: float = 0.4
    sentence_margin: float = 0.05

    def __post_init__(self) -> None:
        for name in ("high", "low", "lexical_weight", "negation_factor", "sentence_margin"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"verify threshold {name} must be between 0 and 1, got {value}")
        if self.low > self.high:
            raise InputError(f"verify threshold low ({self.low}) must not exceed high ({self.high})")


DEFAULT_THRESHOLDS: Final = VerifyThresholds()

# --------------------------------------------------------------------------------------------------
# text analysis
# --------------------------------------------------------------------------------------------------


_STOP_WORDS: Final = frozenset(_RULES["stop_words"])
# Cues that negate the content words after them; "absence"/"lack" only when followed by "of".
_NEGATION_CUES: Final = frozenset({"not", "no", "never", "none", "neither", "nor", "without", "cannot"})
_NEGATION_OF_CUES: Final = frozenset({"absence", "lack"})
_CLAUSE_BREAKS: Final = frozenset(
    {",", ";", ":", ".", "!", "?", "(", ")", "but", "whereas", "although", "however", "while"}
)
#: Content words a negation cue scopes over.
_NEGATION_WINDOW: Final = 5

# Words (letters and digits together: "b12", "hba1c"), numbers with decimals or thousands, punctuation.
_TOKEN: Final = re.compile(r"\d+(?:[.,]\d+)*(?![^\W_])|[^\W_]+|[,;:.!?()]")
_CONTRACTION: Final = re.compile(r"n['’]t\b", re.IGNORECASE)
# A stated quantity: not part of a name such as "COVID-19", "IL-6" or "CD4" (letter, optional hyphen).
_NUMBER: Final = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)(\d+(?:,\d{3})+(?!\d)|\d*\.\d+|\d+)(\s*(?:%|percent\b|per\s+cent\b))?",
    re.IGNORECASE,
)
_NUMBER_WORDS: Final = {
    w: str(i)
    for i, w in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    )
}  # fmt: skip
# (suffix, replacement, shortest stem left).  The "-at-" family keeps its "at" so that "treated",
# "treating" and "treat" agree, as do "associated" and "association"; "-er" comes off longer words
# only ("smoker"/"smoking", "higher"/"high"; not "fever", "liver", "older").
_SUFFIXES: Final = tuple((str(s), str(r), int(n)) for s, r, n in _RULES["suffixes"])  # fmt: skip
_MIN_STEM: Final = 3
#: Two stems at least this long sharing this share of the shorter one count as a half match.
_FUZZY_MIN_PREFIX: Final = 7
_FUZZY_SHARE: Final = 0.75


@functools.lru_cache(maxsize=1 << 15)
def stem(word: str) -> str:
    """Light stemming of a lowercase word: one suffix off, then a final "e" ("causes", "caused" -> "caus")."""
    word = americanise(word) if word.isalpha() else word
    for suffix, replacement, shortest in _SUFFIXES:
        if not word.endswith(suffix):
            continue
        result = word[: -len(suffix)] + replacement
        if len(result) < shortest:
            continue  # "late" is not "lat" + "ate": try a shorter suffix
        if suffix == "ed" and word.endswith("eed"):  # "bleed", "need": the "ed" is the word
            break
        if suffix in ("s", "es") and word.endswith(("ss", "us", "is")):  # "diagnosis", "virus"
            break
        word = result
        break
    if len(word) > _MIN_STEM and word.endswith("e"):
        word = word[:-1]
    return word


def _number_value(digits: str) -> str:
    """A comparable form: "1,000" -> "1000", "0.50" -> "0.5", ".5" -> "0.5"."""
    if "," in digits:
        digits = digits.replace(",", "")
    try:
        return f"{float(digits):g}"
    except ValueError:  # pragma: no cover - the regex only lets digits through
        return digits


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What the verifier needs to know about one text."""

    stems: frozenset[str]
    surface: Mapping[str, str]  # stem -> first word that produced it, for notes
    negated: frozenset[str]
    cue: str  # first negation cue found ("" if none), for notes
    numbers: Mapping[str, str]  # normalised value -> surface form ("40%"): what a claim states
    stated: frozenset[str]  # values stated in digits or words ("three"): what a span offers
    by_prefix: Mapping[str, tuple[str, ...]]  # stems by their first characters, for prefix matches


@functools.lru_cache(maxsize=8192)
def analyse_text(text: str) -> _Analysis:
    """Content stems, negated stems and stated numbers of ``text`` (cached: spans repeat across claims).

    Spans are analysed a sentence at a time and combined with :func:`_merge`; a
    negation scope never crosses a full stop, so the result is the same as
    analysing the joined text, at a fraction of the cost.
    """
    normal = _CONTRACTION.sub(" not", text)
    tokens = [t.lower() for t in _TOKEN.findall(normal)]
    stems: set[str] = set()
    surface: dict[str, str] = {}
    negated: set[str] = set()
    spelled: set[str] = set()
    cue = ""
    window = 0
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in _NEGATION_CUES or (tok in _NEGATION_OF_CUES and nxt == "of"):
            prev = tokens[i - 1] if i else ""
            # "not only ... but also" and "whether or not" negate nothing.
            if not (tok == "not" and (nxt == "only" or prev == "or")):
                window = _NEGATION_WINDOW
                cue = cue or tok
            continue
        if tok in _CLAUSE_BREAKS:
            window = 0
            continue
        if tok in _NUMBER_WORDS:
            spelled.add(_NUMBER_WORDS[tok])
            continue
        if tok in _STOP_WORDS or tok[0].isdigit():
            continue
        s = stem(tok)
        stems.add(s)
        surface.setdefault(s, tok)
        if window:
            negated.add(s)
            window -= 1
    numbers: dict[str, str] = {}
    for m in _NUMBER.finditer(text):
        numbers.setdefault(_number_value(m.group(1)), m.group(0).strip())
    by_prefix: dict[str, list[str]] = {}
    for s in stems:
        if len(s) >= _FUZZY_MIN_PREFIX:
            by_prefix.setdefault(s[:_FUZZY_MIN_PREFIX], []).append(s)
    return _Analysis(
        frozenset(stems),
        surface,
        frozenset(negated),
        cue,
        numbers,
        frozenset(numbers) | spelled,
        {k: tuple(v) for k, v in by_prefix.items()},
    )


def _merge(parts: Sequence[_Analysis]) -> _Analysis:
    """The analysis of several sentences read together."""
    if len(parts) == 1:
        return parts[0]
    surface: dict[str, str] = {}
    numbers: dict[str, str] = {}
    by_prefix: dict[str, tuple[str, ...]] = {}
    for a in parts:
        for k, v in a.surface.items():
            surface.setdefault(k, v)
        for k, v in a.numbers.items():
            numbers.setdefault(k, v)
        for k, group in a.by_prefix.items():
            by_prefix[k] = by_prefix.get(k, ()) + group
    return _Analysis(
        frozenset().union(*(a.stems for a in parts)),
        surface,
        frozenset().union(*(a.negated for a in parts)),
        next((a.cue for a in parts if a.cue), ""),
        numbers,
        frozenset().union(*(a.stated for a in parts)),
        by_prefix,
    )


def _recall(claim: _Analysis, span: _Analysis) -> tuple[float, list[str]]:
    """Share of the claim's content stems found in the span, and the claim words that are missing."""
    if not claim.stems:
        return 0.0, []
    got = 0.0
    missing: list[str] = []
    for s in claim.stems:
        if s in span.stems:
            got += 1.0
        elif len(s) >= _FUZZY_MIN_PREFIX and any(
            _fuzzy(s, t) for t in span.by_prefix.get(s[:_FUZZY_MIN_PREFIX], ())
        ):
            got += 0.5
        else:
            missing.append(claim.surface[s])
    return got / len(claim.stems), sorted(missing)


def _fuzzy(a: str, b: str) -> bool:
    """Do two stems that share their first characters share enough of the shorter one?"""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n >= _FUZZY_SHARE * min(len(a), len(b))


def _negation_mismatch(claim: _Analysis, span: _Analysis) -> list[str]:
    """Shared words negated on one side only (e.g. claim "not associated", span "associated")."""
    one_sided = (claim.negated & span.stems - span.negated) | (span.negated & claim.stems - claim.negated)
    return sorted(claim.surface.get(s, s) for s in one_sided)


# --------------------------------------------------------------------------------------------------
# candidates and scoring
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    citation: Citation | None  # None for the joint candidate of a multi-citation claim
    parts: tuple[str, ...]  # its sentences, analysed one by one
    joint: int = 0  # number of passages joined

    def analysis(self) -> _Analysis:
        return _merge([analyse_text(p) for p in self.parts])


def checked_text(claim: Claim) -> str:
    """What of ``claim`` is checked against its spans: the quoted title of a title-only claim, else all of it."""
    if claim.citations and all(c.part == "title" for c in claim.citations):
        title = quoted_title(claim.text)
        if title is not None:
            return title
    return claim.text


def _candidates(claim: Claim) -> list[_Candidate]:
    """Each cited span, its sentences and adjacent sentence pairs, and (for several spans) all of them."""
    out: list[_Candidate] = []
    seen: set[tuple[str, int, int]] = set()
    every: list[str] = []

    def add(cit: Citation, sentences: Sequence[tuple[int, int]]) -> None:
        s, e = sentences[0][0], sentences[-1][1]
        key = (cit.document_id, cit.start + s, cit.start + e)
        if key in seen:
            return
        seen.add(key)
        text = cit.quote[s:e]
        parts = tuple(cit.quote[a:b] for a, b in sentences)
        citation = Citation(cit.document_id, cit.start + s, cit.start + e, text, cit.part)
        out.append(_Candidate(text, citation, parts))

    for cit in claim.citations:
        sentences = split_sentences(cit.quote)
        if not sentences:
            continue
        every.extend(cit.quote[a:b] for a, b in sentences)
        for span in sentences:
            add(cit, [span])
        for pair in itertools.pairwise(sentences):
            add(cit, pair)
        add(cit, sentences)
    quotes = [c.quote.strip() for c in claim.citations if c.quote.strip()]
    if len({c.document_id for c in claim.citations}) > 1 and len(quotes) > 1:
        out.append(_Candidate(" ".join(quotes), None, tuple(every), joint=len(quotes)))
    return out


@dataclass(frozen=True, slots=True)
class _Scored:
    candidate: _Candidate
    score: float
    lexical: float
    cosine: float | None
    missing_words: list[str]
    missing_numbers: list[str]
    negation: list[str]


def _score(
    claim_text: str,
    cand: _Candidate,
    cosine: float | None,
    thresholds: VerifyThresholds,
) -> _Scored:
    c = analyse_text(claim_text)
    s = cand.analysis()
    lexical, missing = _recall(c, s)
    score = lexical
    if cosine is not None:
        w = thresholds.lexical_weight
        score = w * lexical + (1.0 - w) * max(0.0, cosine)
    negation = _negation_mismatch(c, s)
    if negation:
        score *= thresholds.negation_factor
    missing_numbers = [surface for value, surface in c.numbers.items() if value not in s.stated]
    if missing_numbers:
        # Just below "supported": a claim stating a number the source does not state is at most partial.
        score = min(score, max(thresholds.low, thresholds.high - 0.01))
    return _Scored(cand, max(0.0, min(1.0, score)), lexical, cosine, missing, missing_numbers, negation)


def _verdict(support: float, thresholds: VerifyThresholds) -> Verdict:
    if support >= thresholds.high:
        return "supported"
    if support >= thresholds.low:
        return "partial"
    return "unsupported"


def _note(best: _Scored, verdict: Verdict, negation_cue: str) -> str:
    parts: list[str] = []
    if best.missing_numbers:
        nums = ", ".join(best.missing_numbers)
        plural = "s" if len(best.missing_numbers) > 1 else ""
        parts.append(f"number{plural} {nums} not in cited passage")
    if best.negation:
        words = ", ".join(best.negation[:3])
        parts.append(
            f"negation differs from cited passage ({negation_cue!r} applies to {words} in only one of them)"
        )
    if best.missing_words and verdict != "supported":
        words = ", ".join(best.missing_words[:5])
        parts.append(f"claim words not in cited passage: {words}")
    score = f"lexical {best.lexical:.2f}"
    if best.cosine is not None:
        score += f", semantic {best.cosine:.2f}"
    head = {"supported": "supported", "partial": "partially supported", "unsupported": "not supported"}
    joint = f" jointly by {count(best.candidate.joint, 'cited passages')}" if best.candidate.joint else ""
    text = f"{head.get(verdict, verdict)}{joint} ({score})"
    return "; ".join([text, *parts])


def _judge(
    claim: Claim,
    cands: Sequence[_Candidate],
    cosines: Sequence[float | None],
    thresholds: VerifyThresholds,
) -> Claim:
    if not claim.citations:
        return replace(claim, verdict="unsupported", support=0.0, supporting=None, note="no citation")
    if not cands:
        return replace(
            claim, verdict="unsupported", support=0.0, supporting=None, note="cited passage is empty"
        )
    text = checked_text(claim)
    if not analyse_text(text).stems:
        return replace(
            claim,
            verdict="unsupported",
            support=0.0,
            supporting=None,
            note="claim has no content words to check",
        )
    scored = [_score(text, cand, cos, thresholds) for cand, cos in zip(cands, cosines, strict=True)]
    best = max(scored, key=lambda x: (x.score, -len(x.candidate.text)))
    # Point the reader at the shortest single-passage span that is nearly as good as the best one.
    near = [
        x
        for x in scored
        if x.candidate.citation is not None and x.score >= best.score - thresholds.sentence_margin
    ]
    if near:
        supporting = min(near, key=lambda x: (len(x.candidate.text), -x.score)).candidate.citation
    else:
        singles = [x for x in scored if x.candidate.citation is not None]
        supporting = max(singles, key=lambda x: x.score).candidate.citation if singles else None
    support = round(best.score, 4)
    verdict = _verdict(support, thresholds)
    if verdict == "unsupported":
        supporting = None  # nothing supports it; the note says what is missing
    note = _note(best, verdict, analyse_text(text).cue or best.candidate.analysis().cue)
    return replace(claim, verdict=verdict, support=support, supporting=supporting, note=note)


def _cosines(
    embedder: Embedder | None, claims: Sequence[Claim], cands: Sequence[Sequence[_Candidate]]
) -> list[list[float | None]]:
    """Cosine of each claim with each of its candidates, from one embedding batch.

    Only claims and single sentences are embedded (each distinct text once); a
    multi-sentence candidate gets the normalised sum of its sentences' vectors.
    That halves the batch (no sentence pairs) and avoids the model truncating a
    long passage, which would judge a claim against the passage's first half only.
    """
    if embedder is None:
        return [[None] * len(cs) for cs in cands]
    index: dict[str, int] = {}
    for claim, cs in zip(claims, cands, strict=True):
        if cs:
            index.setdefault(checked_text(claim), len(index))
            for cand in cs:
                for part in cand.parts:
                    index.setdefault(part, len(index))
    if not index:
        return [[None] * len(cs) for cs in cands]
    vectors: NDArray[np.float32] = np.asarray(embedder.embed(list(index)), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(index):
        raise ModelError(
            f"embedder {getattr(embedder, 'name', embedder)!r} returned shape {vectors.shape} "
            f"for {len(index)} texts"
        )
    out: list[list[float | None]] = []
    for claim, cs in zip(claims, cands, strict=True):
        c = vectors[index[checked_text(claim)]] if cs else None
        row: list[float | None] = []
        for cand in cs:
            v = vectors[[index[p] for p in cand.parts]].sum(axis=0)
            norm = float(np.linalg.norm(v))
            row.append(float(v @ c) / norm if norm > 0 and c is not None else 0.0)
        out.append(row)
    return out


def _verify_many(
    claims: Sequence[Claim],
    embedder: Embedder | None,
    thresholds: VerifyThresholds,
    blocked: Mapping[str, str] | None = None,
) -> list[Claim]:
    cands = [_candidates(c) for c in claims]
    cosines = _cosines(embedder, claims, cands)
    judged = [_judge(c, cs, cos, thresholds) for c, cs, cos in zip(claims, cands, cosines, strict=True)]
    return [_refuse_injected(c, blocked or {}) for c in judged]


def _refuse_injected(claim: Claim, blocked: Mapping[str, str]) -> Claim:
    """``claim`` unsupported when it, or what it cites, addresses a language model (prompt injection).

    Quote fidelity says nothing here: an injected sentence is quoted faithfully.
    ``blocked`` maps document ids the caller screened out to why.
    """
    why = next((f"{d}: {blocked[d]}" for d in claim.document_ids if d in blocked), None)
    if why is None:
        for text in (claim.text, *(c.quote for c in claim.citations)):
            found = screen(text)
            if found:
                why = describe(found)
                break
    if why is None:
        return claim
    return replace(
        claim, verdict="unsupported", support=0.0, note=f"cites text addressed to a language model ({why})"
    )


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


def verify_claim(
    claim: Claim, *, embedder: Embedder | None = None, thresholds: VerifyThresholds = DEFAULT_THRESHOLDS
) -> Claim:
    """Return ``claim`` with ``verdict``, ``support``, ``supporting`` (narrowed to a sentence) and ``note`` set."""
    return _verify_many([claim], embedder, thresholds)[0]


def _distinct(claims: Iterable[Claim]) -> list[Claim]:
    """``claims`` without repeats of the same text citing the same spans (first kept)."""
    seen: set[tuple[str, tuple[tuple[str, str, int, int], ...]]] = set()
    out = []
    for claim in claims:
        key = (claim.text, tuple((c.document_id, c.part, c.start, c.end) for c in claim.citations))
        if key not in seen:
            seen.add(key)
            out.append(claim)
    return out


def verify_article(
    article: Article,
    *,
    embedder: Embedder | None = None,
    thresholds: VerifyThresholds = DEFAULT_THRESHOLDS,
    blocked: Mapping[str, str] | None = None,
    query: Query | None = None,
    relevance_threshold: float | None = None,
) -> Article:
    """Verify every claim of ``article`` and return a new article.

    Unsupported claims leave the bottom line and sections and are appended to
    :attr:`Article.removed_claims` (keeping their verdict and note); a section
    left without claims is dropped.  Sections curbside writes itself
    (:data:`AUTHORED_SECTION_KEYS`) are passed through unverified.
    A claim citing a record in ``blocked`` (id -> why), or whose text or cited
    quote addresses a language model (:mod:`curbside.ingestion.screening`), is removed.
    With ``query``, each claim is also judged in context (:func:`curbside.answer.context.judge_claims`):
    its opening, a provisional or null finding where a positive one stands, the
    question's subject, its learned relevance against ``relevance_threshold``, and
    agreement with a verdict.  ``metadata["verification"]`` records the counts,
    ``citation_precision`` (supported / checked), ``supported_in_context`` and
    ``relevant`` as separate figures (neither stands for the other), the thresholds
    and the embedder's name.
    """
    t0 = time.perf_counter()
    # A summary restates other claims of this article; it is judged by what becomes of them.
    claims = [c for c in article.bottom_line if c.category != SUMMARY_CATEGORY]
    places = ["bottom"] * len(claims)
    for section in article.sections:
        checkable = _checkable(section)
        claims.extend(checkable)
        places.extend([section.key] * len(checkable))
    verified = _verify_many(claims, embedder, thresholds, blocked)
    # Quote fidelity, counted before the judgements in context: citation_precision stays that alone.
    faithful = sum(1 for c in verified if c.verdict == "supported")
    in_context = relevant = None
    if query is not None:
        judgements = judge_claims(
            verified, places, query, verdict=article.verdict, relevance_threshold=relevance_threshold
        )
        verified = [j.claim for j in judgements]
        in_context = sum(1 for j in judgements if j.in_context)
        relevant = sum(1 for j in judgements if j.relevant)
    results = iter(verified)
    removed: list[Claim] = []

    def keep(items: Iterable[Claim]) -> tuple[Claim, ...]:
        out = []
        for _ in items:
            judged = next(results)
            if judged.verdict == "unsupported":
                removed.append(judged)
            else:
                out.append(judged)
        return tuple(out)

    # Bottom-line claims take their results first, as they were verified first; summaries wait.
    bottom_judged = [None if c.category == SUMMARY_CATEGORY else next(results) for c in article.bottom_line]
    sections = tuple(s for s in (_rebuild(section, keep) for section in article.sections) if s is not None)
    survivors: dict[tuple[str, int, int, str], float] = {}
    for claim in _kept_claims(sections):
        for cit in claim.citations:
            key = (cit.document_id, cit.start, cit.end, cit.part)
            survivors[key] = max(survivors.get(key, 0.0), claim.support)
    bottom_list: list[Claim] = []
    bottom_removed: list[Claim] = []
    summaries: list[Claim] = []
    for claim, judged in zip(article.bottom_line, bottom_judged, strict=True):
        if judged is None:
            judged = _judge_summary(claim, survivors)
            summaries.append(judged)
        (bottom_removed if judged.verdict == "unsupported" else bottom_list).append(judged)
    removed[:0] = bottom_removed
    removed = _distinct(removed)  # a quote removed from the bottom line and its section is listed once
    bottom = tuple(bottom_list)
    verified = [*verified, *summaries]
    if in_context is not None and relevant is not None:
        # A summary kept holds only while the claims it restates do: it is as good as they are.
        kept_summaries = sum(1 for c in summaries if c.verdict != "unsupported")
        in_context, relevant = in_context + kept_summaries, relevant + kept_summaries
    faithful += sum(1 for c in summaries if c.verdict == "supported")
    counts = {v: sum(1 for c in verified if c.verdict == v) for v in ("supported", "partial", "unsupported")}
    checked = len(verified)
    metadata = dict(article.metadata)
    metadata["verification"] = {
        "checked": checked,
        **counts,
        "removed": len(removed),
        "citation_precision": round(faithful / checked, 4) if checked else None,
        # Two figures, never one for the other: faithful to the source in context, and about the question.
        "supported_in_context": in_context,
        "relevant": relevant,
        "relevance_threshold": relevance_threshold,
        "thresholds": asdict(thresholds),
        "embedder": embedder.name if embedder is not None else None,
        "seconds": round(time.perf_counter() - t0, 4),
    }
    return replace(
        article,
        bottom_line=bottom,
        sections=sections,
        removed_claims=(*article.removed_claims, *removed),
        metadata=metadata,
    )


def _kept_claims(sections: Iterable[ArticleSection]) -> list[Claim]:
    out: list[Claim] = []
    for section in sections:
        if section.key not in AUTHORED_SECTION_KEYS:
            out.extend(section.all_claims())
    return out


def _judge_summary(claim: Claim, survivors: dict[tuple[str, int, int, str], float]) -> Claim:
    """A summary holds only while every claim it summarises does: each citation must be a span that a
    claim kept in the article's sections cites; its support is the weakest of theirs."""
    if not claim.citations:
        return replace(claim, verdict="unsupported", support=0.0, supporting=None, note="no citation")
    supports = [survivors.get((c.document_id, c.start, c.end, c.part)) for c in claim.citations]
    missing = sum(1 for x in supports if x is None)
    if missing:
        return replace(
            claim,
            verdict="unsupported",
            support=0.0,
            supporting=None,
            note=f"summary of cited claims: {missing} of {count(len(supports), 'summarised claims')} not in the article",
        )
    support = round(min(x for x in supports if x is not None), 4)
    return replace(
        claim,
        verdict="supported",
        support=support,
        supporting=None,
        note=f"summary of {len(supports)} verified claim{'s' if len(supports) != 1 else ''} cited in the"
        " sections below",
    )


def _checkable(section: ArticleSection) -> list[Claim]:
    if section.key in AUTHORED_SECTION_KEYS:
        return []
    out = list(section.claims)
    for sub in section.subsections:
        out.extend(_checkable(sub))
    return out


def _rebuild(
    section: ArticleSection, keep: Callable[[Iterable[Claim]], tuple[Claim, ...]]
) -> ArticleSection | None:
    """The section with its claims filtered by ``keep``; ``None`` if verification emptied it."""
    if section.key in AUTHORED_SECTION_KEYS:
        return section
    claims = keep(section.claims)
    subs = tuple(s for s in (_rebuild(sub, keep) for sub in section.subsections) if s is not None)
    had_content = bool(section.claims or section.subsections)
    if had_content and not claims and not subs:
        return None
    return replace(section, claims=claims, subsections=subs)
