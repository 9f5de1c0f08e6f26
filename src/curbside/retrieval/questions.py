"""Question understanding: type, concepts, keywords, search expressions and follow-ups.

``analyse(text)`` turns a clinician's question into a :class:`~curbside.types.Query`:

1. :func:`classify` gives the question type by rules (see its docstring for the order).
2. :class:`Vocabulary` finds the concepts: the longest vocabulary terms (1 to 6 words)
   in the question, matched on *normalised* tokens, so "leucopenia", "Leukopenias" and
   "leukopenia" all find the MeSH descriptor Leukopenia with its narrower terms.
   Normalisation lowercases, strips accents, maps British to American spelling
   (``aemia`` -> ``emia``, ``haem`` -> ``hem``, ``oedema`` -> ``edema``...) and drops a
   plural ``s``; it is used only to compare, never shown.
3. Keywords are the content words left after an English and question-frame stop list.

:func:`expand_terms` and :func:`fts_query` turn a query into lexical search terms and a
safe SQLite FTS5 expression; :func:`standalone_question` rewrites a follow-up question
("How is it treated?") into one that can be searched on its own.

The vocabulary data format and the spelling rules are described in docs/vocabulary.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, cast, get_args

from curbside.datafiles import load_data, rules_of
from curbside.errors import QueryError
from curbside.retrieval.vocabulary import (
    POSSESSIVE,
    SECONDARY_KEYS,
    STOP_WORDS,
    TOKEN,
    Vocabulary,
    americanise,
    britishise,
    natural_order,
    norm_token,
    term_key,
    term_tokens,
)
from curbside.types import Concept, DocumentKind, Query, QuestionType

__all__ = [
    "MAX_QUERY_CHARS",
    "Vocabulary",
    "americanise",
    "analyse",
    "asks_yes_no",
    "britishise",
    "check_question_length",
    "classify",
    "comparison_asked",
    "expand_terms",
    "fts_expression",
    "fts_query",
    "natural_order",
    "split_terms",
    "standalone_question",
]

_RULES: Final = load_data(
    "questions.json",
    "question cues",
    rules_of(
        "auxiliaries",
        "wh_words",
        "comparison",
        "dosing",
        "intents",
        "definition",
        "topic_words",
        "referring_nouns",
        "determiner_nouns",
        "dummy_it",
        "intent_nouns",
        "frame_words",
        "object_verbs",
    ),
)

#: Longest question accepted, in characters; longer text is a document, not a question.
MAX_QUERY_CHARS: Final = 2000

# --------------------------------------------------------------------------------------
# Question type.

_AUX: Final = frozenset(_RULES["auxiliaries"])
_WH: Final = frozenset(_RULES["wh_words"])
_CLAUSE: Final = re.compile(r"[:;,?!]|\.(?=\s)|\s[-–—]+\s|--")
_FIRST_WORD: Final = re.compile(r"[^\W\d_]+")

_COMPARISON: Final = re.compile(_RULES["comparison"])
_DOSING: Final = re.compile(_RULES["dosing"])
# Intents searched by position: the earliest match wins ("risk factors for mortality" asks
# for causes, "mortality of ... treated with" for prognosis); ties go to the earlier entry.
_INTENTS: Final[tuple[tuple[QuestionType, re.Pattern[str]], ...]] = tuple(
    (cast(QuestionType, k), re.compile(p)) for k, p in _RULES["intents"]
)
_DEFINITION: Final = re.compile(_RULES["definition"])


def _is_yesno(lower: str) -> bool:
    """Starts with an auxiliary verb, or has a clause that does after a title ("Drug X: is it safe?")."""
    firsts = [m.group() for part in _CLAUSE.split(lower) if (m := _FIRST_WORD.search(part))]
    if not firsts:
        return False
    if firsts[0] in _AUX:
        return True
    return firsts[0] not in _WH and any(w in _AUX for w in firsts[1:])


#: A title-style question's last part starting with one of these asks for a topic, not a verdict
#: ("Leukopenia: causes?").
_TOPIC_WORDS: Final = frozenset(_RULES["topic_words"])
_TITLE_BREAK: Final = re.compile(r"[:,]|\.(?=\s)|\s[-–—]+\s|--")


def _is_title_yesno(lower: str) -> bool:
    """A title with a question after it and no question word: "Aripiprazole: a new risk factor for X?".

    Journal titles of this shape (most PubMedQA questions) ask whether the claim holds.
    """
    parts = [p for p in _TITLE_BREAK.split(lower.strip()) if p.strip()]
    if len(parts) < 2 or not lower.rstrip().endswith("?"):
        return False
    firsts = [m.group() for p in parts if (m := _FIRST_WORD.search(p))]
    return bool(firsts) and not any(w in _WH for w in firsts) and firsts[-1] not in _TOPIC_WORDS


def comparison_asked(text: str) -> bool:
    """Whether ``text`` compares two things ("A versus B", "better than", "difference between")."""
    return bool(_COMPARISON.search(" ".join(text.lower().split())))


def asks_yes_no(text: str) -> bool:
    """Whether ``text`` asks for a yes/no verdict, whatever else it asks ("Is A better than B?" too)."""
    lower = " ".join(text.lower().split())
    return _is_yesno(lower) or _is_title_yesno(lower)


def classify(text: str) -> QuestionType:
    """The type of a question, by rules tried in this order.

    1. comparison: "vs", "versus", "compared with", "difference between", "better than", "superior to";
    2. yesno: the question, or a clause after a title or comma ("Aspirin: does it work?",
       "In sepsis, do steroids help?"), starts with an auxiliary verb (is, are, does, do, can,
       should, could, will, has, have, was, were, did, would, may, might, must, shall);
    3. dosing: "dose", "dosing", "mg", "how much";
    4. the earliest of the prognosis / diagnosis / treatment / causes cue words;
    5. definition: "what is", "define", "classification", "meaning of";
    6. general.

    A comparison asked as a yes/no question ("Is A better than B?") is a comparison: the
    answer needs both arms side by side, not only a verdict.  Yes/no comes before dosing
    because "Does high-dose vitamin D prevent falls?" asks about an effect, not a dose.
    """
    lower = " ".join(text.lower().split())
    if _COMPARISON.search(lower):
        return "comparison"
    if _is_yesno(lower) or _is_title_yesno(lower):
        return "yesno"
    if _DOSING.search(lower):
        return "dosing"
    best: tuple[int, QuestionType] | None = None
    for qtype, pattern in _INTENTS:
        m = pattern.search(lower)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), qtype)
    if best is not None:
        return best[1]
    if _DEFINITION.search(lower):
        return "definition"
    return "general"


# --------------------------------------------------------------------------------------
# Analysis.

_KEYWORD: Final = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:-[^\W_]+)*")
_KINDS: Final = frozenset(get_args(DocumentKind))


def _keywords(text: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for m in _KEYWORD.finditer(POSSESSIVE.sub("", text)):
        word = m.group().lower()
        if word in STOP_WORDS or (len(word) == 1 and not word.isdigit()):
            continue
        if "-" in word and all(p in STOP_WORDS or len(p) == 1 for p in word.split("-")):
            continue
        out[word] = None
    return tuple(out)


def check_question_length(text: str, limit: int) -> None:
    """:class:`QueryError` when ``text`` (spaces collapsed) is longer than ``limit`` characters.

    The API, CLI and web app call it with ``settings.max_question_chars`` so that
    every door takes the same questions.
    """
    length = len(" ".join(text.split()))
    if length > limit:
        raise QueryError(
            f"the question is {length:,} characters long; the limit is {limit:,}",
            hint="Ask the question in a sentence or two (the limit is CURBSIDE_MAX_QUESTION_CHARS).",
        )


def analyse(
    text: str,
    *,
    vocabulary: Vocabulary | None = None,
    year_from: int | None = None,
    year_to: int | None = None,
    publication_types: Sequence[str] = (),
    kinds: Sequence[str] = (),
) -> Query:
    """Validate and analyse a question into a :class:`~curbside.types.Query`.

    Raises :class:`~curbside.errors.QueryError` when the text is empty, longer than
    :data:`MAX_QUERY_CHARS`, has nothing but stop words and punctuation, or the
    filters contradict each other.  ``vocabulary`` defaults to :meth:`Vocabulary.default`.
    """
    clean = " ".join(text.split())
    if not clean:
        raise QueryError("the query is empty", hint="Ask a clinical question, e.g. 'What causes leukopenia?'")
    if len(clean) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(clean):,} characters long; the limit is {MAX_QUERY_CHARS:,}",
            hint="Ask the question in a sentence or two.",
        )
    for label, year in (("from", year_from), ("to", year_to)):
        if year is not None and not 1000 <= year <= 3000:
            raise QueryError(f"the year {label} {year} is not a publication year (1000-3000)")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise QueryError(f"the year range is empty: from {year_from} is after to {year_to}")
    bad_kinds = [k for k in kinds if k not in _KINDS]
    if bad_kinds:
        raise QueryError(
            f"unknown document kind {', '.join(map(repr, bad_kinds))}; known kinds: {', '.join(sorted(_KINDS))}"
        )
    vocab = vocabulary if vocabulary is not None else Vocabulary.default()
    keywords = _keywords(clean)
    concepts = tuple(vocab.find(clean))
    if not keywords and not concepts:
        shown = clean if len(clean) <= 60 else clean[:57] + "..."
        raise QueryError(
            f"the query has no searchable words: {shown!r} is only stop words and punctuation",
            hint="Name the condition, drug or test you are asking about.",
        )
    return Query(
        text=clean,
        qtype=classify(clean),
        concepts=concepts,
        keywords=keywords,
        year_from=year_from,
        year_to=year_to,
        publication_types=tuple(publication_types),
        kinds=tuple(kinds),
    )


def expand_terms(query: Query) -> list[str]:
    """Every lexical search term of a query, lowercased and deduplicated.

    Keywords first, then for each concept its preferred name, synonyms and narrower
    terms (MeSH inverted names in reading order, since that is how text says them).
    The order matters to callers that cut the list short: the question's own words
    come before the expansions.
    """
    out: dict[str, None] = {}

    def add(term: str) -> None:
        term = " ".join(term.lower().split())
        if term:
            out.setdefault(term, None)

    for word in query.keywords:
        add(word)
    for concept in query.concepts:
        add(natural_order(concept.preferred))
        for term in concept.synonyms:
            add(natural_order(term))
        for term in concept.narrower:
            add(natural_order(term))
    return list(out)


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def split_terms(query: Query) -> tuple[list[str], list[str]]:
    """:func:`expand_terms` in two groups: the question's own words, and what expansion adds.

    The first group is the keywords with their British and American spellings
    ("leucopenia", "leukopenia"): a paper uses one spelling, so searching both
    never counts a word twice.  The second is every other concept term
    (preferred names, synonyms, narrower terms).  Retrieval searches the two
    separately and gives the second less weight, because ORing synonyms in with
    equal weight lets a concept with many names outvote the rest of the question.
    An expansion phrase that contains another expansion term is left out.
    """
    own: dict[str, None] = {}
    for word in query.keywords:
        for variant in (word, americanise(word), britishise(word)):
            own.setdefault(variant, None)
    added = [t for t in expand_terms(query) if t not in own]
    # In an OR query a phrase that contains another term ("febrile neutropenia" and
    # "neutropenia") finds nothing new and only counts the same words twice.
    padded = {t: f" {' '.join(TOKEN.findall(t))} " for t in added}
    added = [
        t for t in added if not any(o != t and padded[o].strip() and padded[o] in padded[t] for o in added)
    ]
    return list(own), added


def fts_expression(terms: Sequence[str]) -> str | None:
    """Terms as an FTS5 ``MATCH`` expression of quoted phrases joined by ``OR``; ``None`` when none is left."""
    phrases = []
    for term in terms:
        cleaned = " ".join(_CONTROL.sub(" ", term).split())
        if cleaned:
            phrases.append('"' + cleaned.replace('"', '""') + '"')
    return " OR ".join(phrases) if phrases else None


def fts_query(query: Query) -> str:
    """An SQLite FTS5 ``MATCH`` expression: every :func:`expand_terms` term as a quoted phrase, ORed.

    Quoting makes every term a phrase (FTS5 operators such as AND, NEAR, ``*`` or
    ``^`` inside it are plain words) and doubled inner quotes keep it closed;
    control characters are removed because FTS5 stops reading at a NUL.
    """
    expression = fts_expression(expand_terms(query))
    if expression is None:
        raise QueryError(f"the query has no searchable words: {query.text!r}")
    return expression


# --------------------------------------------------------------------------------------
# Follow-up questions.

_REFERRING_NOUNS: Final = _RULES["referring_nouns"]
_DETERMINER_NOUNS: Final = frozenset(_RULES["determiner_nouns"])
_DUMMY_IT: Final = re.compile(_RULES["dummy_it"], re.IGNORECASE)
_PRONOUN: Final = re.compile(
    rf"\b(?P<det>this|that|these|those|the)\s+(?P<noun>{_REFERRING_NOUNS})\b"
    r"|\b(?P<poss>its|their)\b"
    r"|\b(?P<pron>it|they|them)\b"
    r"|\b(?P<bare>this|these|those)\b(?P<next>\s+[\w-]+)?",
    re.IGNORECASE,
)
_INTENT_NOUNS: Final = frozenset(norm_token(w) for w in _RULES["intent_nouns"])
_FRAME_WORDS: Final = STOP_WORDS | frozenset(_RULES["frame_words"])
_OBJECT_VERBS: Final = frozenset(_RULES["object_verbs"])
_CARRY_PREP: Final = re.compile(
    r"^(?P<lead>(?:(?:and|but|so|what|how)\s+)*(?:about\s+)?)"
    r"(?P<prep>in|with|for|during|after|before|among|without)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)


def _display(concept: Concept, question: str) -> str:
    """The concept as written, lowercased if it only has a capital because it opens the question."""
    text = concept.text
    if question.startswith(text) and text[:1].isupper() and text[1:2].islower():
        first = text.split()[0]
        eponym = any(s.startswith(first) and not s.isupper() for s in concept.synonyms)
        if not eponym:
            return text[0].lower() + text[1:]
    return text


def _subjects(question: str, vocab: Vocabulary) -> list[str]:
    """The main concepts of an earlier question, or failing that its longest run of content words."""
    main = [
        _display(c, question)
        for c in vocab.find(question)
        if term_key(term_tokens(c.text)) not in SECONDARY_KEYS
    ]
    if main:
        return main
    best: list[str] = []
    run: list[str] = []
    for m in _KEYWORD.finditer(POSSESSIVE.sub("", question)):
        if m.group().lower() in _FRAME_WORDS:
            run = []
            continue
        run.append(m.group())
        if len(run) > len(best):
            best = list(run)
    return [" ".join(best)] if best else []


def _capitalise_at_start(text: str, start: int, replacement: str) -> str:
    return replacement[:1].upper() + replacement[1:] if start == 0 else replacement


def _resolve_pronouns(text: str, subjects: list[str]) -> tuple[str, bool]:
    it, they = subjects[0], " and ".join(subjects[:3])
    dummy = {m.start() for m in _DUMMY_IT.finditer(text)}
    replaced = False

    def repl(m: re.Match[str]) -> str:
        nonlocal replaced
        plural = m.group().lower().startswith(("these", "those", "they", "them", "their"))
        subject = they if plural else it
        if m.group("det"):
            if m.group("det").lower() == "the" and m.group("noun").lower().startswith(
                ("drug", "medic", "agent")
            ):
                return m.group()  # "the drug" may introduce a new one
            out = subject
        elif m.group("poss"):
            out = subject + "'s"
        elif m.group("pron"):
            if m.start() in dummy:
                return m.group()
            out = subject
        else:
            following = (m.group("next") or "").strip().lower()
            if following in _DETERMINER_NOUNS:
                return m.group()  # "this dose": a determiner, not a pronoun
            out = subject + (m.group("next") or "")
        replaced = True
        return _capitalise_at_start(text, m.start(), out)

    return _PRONOUN.sub(repl, text), replaced


def _carry(text: str, subject: str) -> str:
    """Attach ``subject`` to a follow-up that has none, with a joining word chosen by its last word."""
    body = text.rstrip("?.! ")
    end = text[len(body) :].strip()
    m = _CARRY_PREP.match(body)
    if m:  # "And in children?" -> "And leukopenia in children?"
        joined = f"{m.group('lead')}{subject} {m.group('prep')} {m.group('rest')}"
        return joined[:1].upper() + joined[1:] + end
    words = _KEYWORD.findall(body)
    last = norm_token(words[-1]) if words else ""
    if last in SECONDARY_KEYS:
        joiner = " with "  # "What about children?" -> "... children with leukopenia?"
    elif last in _INTENT_NOUNS:
        joiner = " of "  # "And the treatment?" -> "... the treatment of leukopenia?"
    elif last in _OBJECT_VERBS:
        joiner = " "  # "Is it safe to stop?" -> "... to stop metformin?"
    elif last.endswith("ed"):
        joiner = " for "  # "Is surgery needed?" -> "... needed for appendicitis?"
    else:
        joiner = " in "
    return f"{body}{joiner}{subject}{end}"


def standalone_question(
    follow_up: str, history: Sequence[str], *, vocabulary: Vocabulary | None = None
) -> str:
    """Rewrite a follow-up question so it can be searched without the conversation.

    ``history`` holds the earlier questions, oldest first.  The subject is the main
    concepts (not populations such as "children") of the latest earlier question that
    has any.  Pronouns ("it", "they", "its", "this condition") become that subject;
    a follow-up with no concept of its own and no pronoun gets the first of them
    attached ("And in children?" -> "And leukopenia in children?"); one concept keeps
    the rewritten sentence readable ("to stop metformin", not "to stop metformin and CKD").  Without history, or when
    the follow-up names its own subject, it is returned with whitespace tidied.

    >>> standalone_question("How is it treated?", ["What are the causes of leukopenia?"])
    'How is leukopenia treated?'
    """
    text = " ".join(follow_up.split())
    if not text or not history:
        return text
    vocab = vocabulary if vocabulary is not None else Vocabulary.default()
    subjects: list[str] = []
    for turn in reversed(history):
        subjects = _subjects(" ".join(turn.split()), vocab)
        if subjects:
            break
    if not subjects:
        return text
    resolved, replaced = _resolve_pronouns(text, subjects)
    if replaced:
        return resolved
    own = [c for c in vocab.find(text) if term_key(term_tokens(c.text)) not in SECONDARY_KEYS]
    return text if own else _carry(text, subjects[0])
