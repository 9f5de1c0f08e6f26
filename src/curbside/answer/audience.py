"""The same verified article, worded for a clinician, a student or a patient.

:func:`adapt` returns a *new* article; the clinician article (the one the
verifier checked) is never changed in place:

* **clinician** -- unchanged.
* **student** -- abbreviations are expanded on first use ("ANC" -> "absolute
  neutrophil count (ANC)") and a short **Glossary** section (key ``glossary``)
  defines the technical terms the article uses.  The definitions come from
  curbside's own data file ``data/glossary.json``, not from the cited sources,
  and the section says so.
* **patient** -- abbreviations expanded, technical words replaced by lay
  wording from ``data/lay_terms.json`` ("myocardial infarction" -> "heart
  attack"; "leukopenia" -> "low white blood cell count (leukopenia)" the first
  time), long sentences split at "; " and ", which", the technical
  ``pitfalls`` section dropped, and a **When to seek care** section (key
  ``seek-care``) of generic safety advice from ``data/seek_care.json`` added,
  marked as general advice and uncited.  The disclaimer is the patient one.

**Verification applies to the source wording.**  An adapted claim keeps its
citations, verdict, support, supporting span and note, but its ``text`` is the
reworded one; ``metadata["audience_changes"]`` lists every ``{"original",
"adapted"}`` pair so a reviewer can see exactly what the verifier checked.
``metadata["audience_adapted"]`` is ``True`` and ``metadata["readability"]``
holds :func:`readability` of the adapted claims.  An adapted article cannot be
adapted again to another audience: adapt the clinician article instead.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Final, Literal, TypedDict

from curbside.answer.sentences import title_claim_parts
from curbside.answer.verify import AUTHORED_SECTION_KEYS
from curbside.errors import ConfigError, InputError
from curbside.ingestion.chunking import split_sentences
from curbside.types import Article, ArticleSection, Audience, Claim

AUDIENCES: Final[tuple[Audience, ...]] = ("clinician", "student", "patient")
#: At most this many glossary entries: a short glossary is read, a long one skipped.
GLOSSARY_LIMIT: Final = 12
#: Flesch-Kincaid grade that patient information should not exceed (AMA/NIH plain-language guidance).
PATIENT_TARGET_GRADE: Final = 8.0
#: Section keys dropped for patients: technical advice meant for prescribers.
PATIENT_DROPPED_SECTIONS: Final = frozenset({"pitfalls"})
#: Keys of the sections curbside writes itself (the verifier skips both: see AUTHORED_SECTION_KEYS).
GLOSSARY_KEY: Final = "glossary"
SEEK_CARE_KEY: Final = "seek-care"
GLOSSARY_INTRO: Final = (
    "Definitions from curbside's built-in glossary; they are general explanations, "
    "not statements from the cited sources."
)
_SMALL_WORDS: Final = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
)

# --------------------------------------------------------------------------------------------------
# data files
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlossaryEntry:
    term: str
    definition: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LayTerm:
    """A technical term and its plain wording; ``keep_term`` adds "(term)" on first use."""

    term: str
    lay: str
    keep_term: bool = False


@dataclass(frozen=True, slots=True)
class SeekCare:
    heading: str
    intro: str
    items: tuple[str, ...]
    disclaimer: str


def _load(name: str) -> dict[str, Any]:
    where = f"curbside/data/{name}"
    try:
        data = json.loads(resources.files("curbside").joinpath(f"data/{name}").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read the built-in data file: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ConfigError(f'{where}: expected an object with "version": 1')
    return data


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings")
    return tuple(value)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: missing or empty {key!r}")
    return value


@functools.cache
def fragment_openers() -> frozenset[str]:
    """Words that open the rest of a sentence, never a new one (``data/lay_terms.json``)."""
    data = _load("lay_terms.json")
    return frozenset(
        w.lower() for w in _strings(data.get("fragment_openers"), "lay_terms.json: fragment_openers")
    )


@functools.cache
def glossary() -> tuple[tuple[GlossaryEntry, ...], dict[str, str]]:
    """The built-in glossary entries and abbreviation expansions (``data/glossary.json``)."""
    data = _load("glossary.json")
    entries = []
    for i, item in enumerate(data.get("terms") or [], 1):
        where = f"curbside/data/glossary.json: terms[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected an object")
        entries.append(
            GlossaryEntry(
                _text(item, "term", where),
                _text(item, "definition", where),
                _strings(item.get("aliases", []), where),
            )
        )
    abbreviations = data.get("abbreviations") or {}
    if not isinstance(abbreviations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in abbreviations.items()
    ):
        raise ConfigError("curbside/data/glossary.json: 'abbreviations' must map strings to strings")
    return tuple(entries), dict(abbreviations)


@functools.cache
def lay_terms() -> tuple[LayTerm, ...]:
    """The patient-language table (``data/lay_terms.json``)."""
    out = []
    for i, item in enumerate(_load("lay_terms.json").get("terms") or [], 1):
        where = f"curbside/data/lay_terms.json: terms[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected an object")
        out.append(
            LayTerm(_text(item, "term", where), _text(item, "lay", where), bool(item.get("keep_term")))
        )
    return tuple(out)


@functools.cache
def seek_care() -> SeekCare:
    """The generic "When to seek care" advice and the patient disclaimer (``data/seek_care.json``)."""
    data = _load("seek_care.json")
    where = "curbside/data/seek_care.json"
    return SeekCare(
        _text(data, "heading", where),
        _text(data, "intro", where),
        _strings(data.get("items"), f"{where}: items"),
        _text(data, "disclaimer", where),
    )


def _alternation(terms: Iterable[str], *, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    """One regex for many terms, longest first so "deep vein thrombosis" wins over "thrombosis"."""
    ordered = sorted(set(terms), key=lambda t: (-len(t), t))
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in ordered) + r")(?![\w-])", flags)


@functools.cache
def _abbreviation_pattern() -> re.Pattern[str]:
    _, abbreviations = glossary()
    ordered = sorted(abbreviations, key=lambda t: (-len(t), t))
    # Case-sensitive: "CI" is an abbreviation, "ci" is not; an optional plural "s" ("NSAIDs").
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(t) for t in ordered) + r")(s?)(?![\w-])")


@functools.cache
def _lay_index() -> tuple[re.Pattern[str], dict[str, LayTerm]]:
    table = {t.term.lower(): t for t in lay_terms()}
    return _alternation(table), table


@functools.cache
def _glossary_index() -> tuple[re.Pattern[str], dict[str, GlossaryEntry]]:
    entries, _ = glossary()
    table: dict[str, GlossaryEntry] = {}
    for entry in entries:
        for name in (entry.term, *entry.aliases):
            table.setdefault(name.lower(), entry)
    ordered = sorted(table, key=lambda t: (-len(t), t))
    # An optional plural: "neutrophils" should find "neutrophil".
    pattern = re.compile(
        r"(?<![\w-])(" + "|".join(re.escape(t) for t in ordered) + r")(?:e?s)?(?![\w-])", re.I
    )
    return pattern, table


# --------------------------------------------------------------------------------------------------
# rewriting
# --------------------------------------------------------------------------------------------------


def _sentence_start(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return not before or before.endswith((".", "!", "?"))


def _match_case(source: str, replacement: str, *, title: bool, start: bool = False) -> str:
    """``replacement`` cased like ``source``: title case in titles, a capital where a sentence starts."""
    if title:
        words = replacement.split(" ")
        return " ".join(
            w if (i and w in _SMALL_WORDS) or not w else w[0].upper() + w[1:] for i, w in enumerate(words)
        )
    if start or (source[:1].isupper() and not source.isupper()):
        return replacement[:1].upper() + replacement[1:]
    return replacement


class _Rewriter:
    """Rewrites texts in reading order, remembering which terms were already introduced."""

    def __init__(self, audience: Audience) -> None:
        self.audience = audience
        self.seen_abbreviations: set[str] = set()
        self.seen_terms: set[str] = set()

    def __call__(self, text: str, kind: Literal["title", "heading", "claim"] = "claim") -> str:
        """Reword one text; only claims count as a "first use" and only claims have sentences split."""
        if self.audience == "clinician":
            return text
        if kind == "claim":
            text = self._expand_abbreviations(text)
        if self.audience == "patient":
            text = self._lay(text, kind)
            if kind == "claim":
                text = shorten_sentences(text)
        return text

    def _expand_abbreviations(self, text: str) -> str:
        _, abbreviations = glossary()
        lower = text.lower()

        def sub(m: re.Match[str]) -> str:
            abbr, plural = m.group(1), m.group(2)
            if abbr in self.seen_abbreviations:
                return m.group(0)
            self.seen_abbreviations.add(abbr)
            expansion = abbreviations[abbr]
            # Already introduced by the source ("absolute neutrophil count (ANC)") or inside brackets.
            before = lower[: m.start()]
            if expansion.lower() in before or before.rstrip().endswith("("):
                return m.group(0)
            # The abbreviation's own capitals say nothing about the expansion's: only a sentence start does.
            if _sentence_start(text, m.start()):
                expansion = expansion[:1].upper() + expansion[1:]
            return f"{expansion}{plural} ({abbr}{plural})"

        return _abbreviation_pattern().sub(sub, text)

    def _lay(self, text: str, kind: str) -> str:
        pattern, table = _lay_index()

        def sub(m: re.Match[str]) -> str:
            found = m.group(1)
            entry = table[found.lower()]
            lay = _match_case(found, entry.lay, title=kind == "title", start=_sentence_start(text, m.start()))
            bracketed = text[m.end() : m.end() + 2] == " ("  # the source or an expansion already brackets it
            first = kind != "claim" or entry.term.lower() not in self.seen_terms
            if kind == "claim":
                self.seen_terms.add(entry.term.lower())
            if entry.keep_term and first and not bracketed:
                # "Leukopenia is..." -> "Low white blood cell count (leukopenia) is...": the term loses the
                # capital it had only for starting the sentence.
                if kind != "title" and found[:1].isupper() and found[1:].islower():
                    found = found.lower()
                return f"{lay} ({found})"
            return lay

        return pattern.sub(sub, text)


_SPLIT: Final = re.compile(r";\s+|,\s+which\s+")
#: Fewest words either side of a "; " for the two halves to stand as sentences.
_MIN_CLAUSE_WORDS: Final = 3


def _fragment_opener(text: str) -> bool:
    """Whether ``text`` starts like the rest of a sentence, not a new one ("by anemia, ...")."""
    first = text.split(None, 1)[0].lower().strip(",:") if text.strip() else ""
    return first in fragment_openers() or first.endswith("ing")


def shorten_sentences(text: str) -> str:
    """Split at "; " and ", which" outside brackets: "A; b" -> "A. B"; "A, which b" -> "A. This b".

    A "; " is split only between two clauses that can stand alone: "was enlarged; by anemia,
    leukopenia ..." would leave "By anemia, ..." as a sentence of its own, so it stays joined.
    """
    out: list[str] = []
    pos = 0
    for m in _SPLIT.finditer(text):
        if text.count("(", 0, m.start()) != text.count(")", 0, m.start()):
            continue  # "(95% CI 1.2 to 3.4; p = 0.01)" stays as it is
        rest = text[m.end() : m.end() + 1]
        if not rest or not rest.isalnum():
            continue
        if ";" in m.group(0):
            after = text[m.end() :].split(";", 1)[0]
            if (
                _fragment_opener(after)
                or len(after.split()) < _MIN_CLAUSE_WORDS
                or len(text[pos : m.start()].split()) < _MIN_CLAUSE_WORDS
            ):
                continue
        out.append(text[pos : m.start()].rstrip(",") + ".")
        pos = m.end()
        out.append(" This " if "which" in m.group(0) else " ")
        if "which" not in m.group(0):
            out.append(rest.upper())
            pos += 1
    out.append(text[pos:])
    return "".join(out)


def _rewrite_sections(
    sections: Iterable[ArticleSection],
    rewrite: _Rewriter,
    claim_fn: Callable[[Claim], Claim],
    drop: frozenset[str],
) -> tuple[ArticleSection, ...]:
    out = []
    for section in sections:
        if section.key in drop:
            continue
        out.append(
            replace(
                section,
                heading=rewrite(section.heading, "heading"),
                claims=tuple(claim_fn(c) for c in section.claims),
                subsections=_rewrite_sections(section.subsections, rewrite, claim_fn, drop),
            )
        )
    return tuple(out)


def _glossary_section(texts: Iterable[str]) -> ArticleSection | None:
    pattern, table = _glossary_index()
    found: dict[str, GlossaryEntry] = {}
    for text in texts:
        for m in pattern.finditer(text):
            entry = table[m.group(1).lower()]
            found.setdefault(entry.term, entry)
    if not found:
        return None
    claims = tuple(
        Claim(
            text=f"{entry.term[:1].upper()}{entry.term[1:]}: {entry.definition}",
            citations=(),
            category=GLOSSARY_KEY,
            note="definition from curbside's built-in glossary, not from the cited sources",
        )
        for entry in list(found.values())[:GLOSSARY_LIMIT]
    )
    return ArticleSection(GLOSSARY_KEY, "Glossary", claims, intro=GLOSSARY_INTRO)


def _seek_care_section() -> ArticleSection:
    advice = seek_care()
    claims = tuple(
        Claim(text=item, citations=(), category=SEEK_CARE_KEY, note="general advice from curbside, uncited")
        for item in advice.items
    )
    return ArticleSection(SEEK_CARE_KEY, advice.heading, claims, intro=advice.intro)


def adapt(article: Article, audience: Audience) -> Article:
    """Return ``article`` worded for ``audience`` (see the module docstring); the input is not changed."""
    if audience not in AUDIENCES:
        raise InputError(f"unknown audience {audience!r}; choose one of: {', '.join(AUDIENCES)}")
    if audience == article.audience:
        return article
    if article.metadata.get("audience_adapted") or article.audience != "clinician":
        raise InputError(
            f"this article is already adapted for {article.audience!r}; adapt the clinician article instead"
        )
    if audience == "clinician":
        return article

    rewrite = _Rewriter(audience)
    changes: list[dict[str, str]] = []

    def adapt_claim(claim: Claim) -> Claim:
        titled = title_claim_parts(claim.text) if claim.citations else None
        if titled is not None and all(c.part == "title" for c in claim.citations):
            if audience != "patient":
                return claim  # a quoted title stays verbatim
            # Lay words inside quotation marks would misquote the title: say what the record is about.
            design, title = titled
            lay = rewrite(title)
            lay = lay[:1].lower() + lay[1:] if lay[1:2].islower() else lay
            text = f"A published {design} describes {lay}."
            changes.append({"original": claim.text, "adapted": text})
            return replace(claim, text=text)
        text = rewrite(claim.text)
        if text == claim.text:
            return claim
        changes.append({"original": claim.text, "adapted": text})
        return replace(claim, text=text)

    title = rewrite(article.title, "title")
    bottom = tuple(adapt_claim(c) for c in article.bottom_line)
    drop = PATIENT_DROPPED_SECTIONS if audience == "patient" else frozenset()
    sections = list(_rewrite_sections(article.sections, rewrite, adapt_claim, drop))
    adapted = replace(article, title=title, bottom_line=bottom, sections=tuple(sections))
    disclaimer = article.disclaimer
    if audience == "student":
        extra = _glossary_section(c.text for c in adapted.all_claims())
        if extra is not None:
            sections.append(extra)
    else:
        sections.append(_seek_care_section())
        disclaimer = seek_care().disclaimer
    metadata = dict(article.metadata)
    metadata["audience_adapted"] = True
    metadata["audience_changes"] = changes
    metadata["readability"] = readability(article_text(adapted))
    if audience == "patient":
        # Health-literacy guidance asks patient information to read at US grade 8 or below; the
        # renderers say plainly when the sources are too technical for the rewording to get there.
        metadata["readability_target_grade"] = PATIENT_TARGET_GRADE
    return replace(
        adapted, sections=tuple(sections), audience=audience, disclaimer=disclaimer, metadata=metadata
    )


# --------------------------------------------------------------------------------------------------
# readability
# --------------------------------------------------------------------------------------------------


class Readability(TypedDict):
    words: int
    sentences: int
    syllables: int
    flesch_reading_ease: float | None  # higher is easier; 60-70 is plain English
    flesch_kincaid_grade: float | None  # US school grade needed to follow the text


# Corrections to "one syllable per vowel group" (after dropping a final "e"), after the classic
# Lingua::EN::Syllable heuristics, plus the "-ed"/"-es" endings that add no syllable.
_SYLLABLE_SUB: Final = tuple(
    re.compile(p)
    for p in ("cial", "tia", "cius", "cious", "giu", "ion", "iou", "sia$", ".ely$", "[^aeioudt]ed$")
)
_SYLLABLE_ADD: Final = tuple(
    re.compile(p)
    for p in (
        "ia", "riet", "dien", "iu", "io", "ii", "[aeiouym]bl$", "[aeiou]{3}", "^mc", "ism$",
        r"([^aeiouy])\1l$", "[^l]lien", "^coa[dglx].", "[^gq]ua[^auieo]", "dnt$",
    )
)  # fmt: skip
_VOWEL_GROUP: Final = re.compile(r"[aeiouy]+")
_ES_SILENT: Final = re.compile(r"[^aeiouslzcgx]es$")
_READ_TOKEN: Final = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|\d+(?:[.,]\d+)*%?")
#: A number ("40%", "2.5") is read as a word of this many syllables.
NUMBER_SYLLABLES: Final = 2


@functools.lru_cache(maxsize=1 << 14)
def count_syllables(word: str) -> int:
    """Syllables of an English word by rule (no dictionary): good to about one syllable in ten words."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    if len(w) <= 3:
        return 1
    silent_es = bool(_ES_SILENT.search(w))
    if w.endswith("e") and not w.endswith(("le", "ee")):
        w = w[:-1]
    n = len(_VOWEL_GROUP.findall(w))
    n -= sum(1 for p in _SYLLABLE_SUB if p.search(w))
    n += sum(1 for p in _SYLLABLE_ADD if p.search(w))
    n -= silent_es
    return max(1, n)


def readability(text: str) -> Readability:
    """Flesch reading ease and Flesch-Kincaid grade of ``text``; ``None`` scores for a text with no words."""
    words = 0
    syllables = 0
    for tok in _READ_TOKEN.findall(text):
        words += 1
        syllables += NUMBER_SYLLABLES if tok[0].isdigit() else count_syllables(tok)
    sentences = max(1, len(split_sentences(text))) if words else 0
    if not words:
        return Readability(
            words=0, sentences=0, syllables=0, flesch_reading_ease=None, flesch_kincaid_grade=None
        )
    wps = words / sentences
    spw = syllables / words
    return Readability(
        words=words,
        sentences=sentences,
        syllables=syllables,
        flesch_reading_ease=round(206.835 - 1.015 * wps - 84.6 * spw, 1),
        flesch_kincaid_grade=round(0.39 * wps + 11.8 * spw - 15.59, 1),
    )


def article_text(article: Article) -> str:
    """The article's claims as running text (each ends a sentence), the input to :func:`readability`.

    Only the answer's own claims count: curbside's glossary and safety advice
    would flatter the score of the answer they are attached to.
    """
    parts = []
    for section_claims in (article.bottom_line, *(_answer_claims(s) for s in article.sections)):
        for claim in section_claims:
            text = claim.text.strip()
            if text:
                parts.append(text if text[-1] in ".!?" else text + ".")
    return " ".join(parts)


def _answer_claims(section: ArticleSection) -> tuple[Claim, ...]:
    if section.key in AUTHORED_SECTION_KEYS:
        return ()
    return section.all_claims()
