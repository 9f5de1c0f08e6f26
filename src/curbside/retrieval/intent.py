"""What kind of answer a question wants, in a clinical reference's terms, and its article's title.

``Query.qtype`` (:mod:`curbside.retrieval.questions`) is the coarse type the learned models
were trained with; the *intent* here is finer: "What are the side effects of
clozapine?" asks for adverse effects, not a definition, and its article is
titled "Adverse Effects of Clozapine".  The cue patterns and title patterns are
data (``data/question_intents.json``); the rules that combine them:

1. a yes/no question (:func:`curbside.retrieval.questions.asks_yes_no`) is ``yesno``,
   whatever its topic; else a comparison ("A versus B") is ``comparison``;
2. otherwise the intent whose cue matches earliest in the question (ties: the
   intent listed first in the file);
3. otherwise ``factoid_list`` when the question asks for named things ("Which
   gene ...", "List ...", "How many ..."), ``definition`` when it asks what
   something is, and ``factoid_list`` for anything left.

Measured by ``bench/intent.py``: on the development labels the rules were adjusted
with (``tests/fixtures/question_intents.json``), 0.83 of 240 BioASQ expert questions
and 0.98 of 60 clinician-style ones; on held-out labels made blind to the rules,
0.77 of 120 BioASQ questions but only 0.58 of 40 colloquial ward questions ("post-TAVR
problems to watch for").  A logistic regression over MiniLM question vectors plus
these rules, trained on the 300 development labels, did no better held out (0.71
against 0.72 over all 160), so the rules stay until there are more labels.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from curbside.datafiles import any_of, load_data
from curbside.retrieval.questions import asks_yes_no, comparison_asked
from curbside.retrieval.vocabulary import americanise

Intent = Literal[
    "causes", "adverse_effects", "complications", "mechanism", "risk_factors", "diagnosis", "treatment",
    "dosing", "prognosis", "epidemiology", "prevention", "definition", "comparison", "yesno", "factoid_list",
]  # fmt: skip
INTENTS: Final[tuple[Intent, ...]] = get_args(Intent)
#: What an answer pattern may be for: an intent, the expansion an abbreviation question asks for, or
#: the members of the class a list question names as its subject ("List the essential amino acids").
NamedAnswer = Literal["expansion", "members"]
AnswerKind = Intent | NamedAnswer
_WORDS: Final = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class _Rules:
    cues: tuple[tuple[Intent, re.Pattern[str]], ...]
    factoid: re.Pattern[str]
    definition: re.Pattern[str]
    titles: dict[str, str]
    answers: dict[str, tuple[str, ...]]
    members: tuple[str, ...]
    expansion: re.Pattern[str]
    kinds: re.Pattern[str]


@functools.cache
def _rules() -> _Rules:
    return load_data("question_intents.json", "question intents", _build_rules)


def _build_rules(data: Any) -> _Rules:
    cues = []
    for name, patterns in data["cues"].items():
        if name not in INTENTS:
            raise ValueError(f"unknown intent {name!r}")
        cues.append((name, re.compile(any_of(patterns))))
    return _Rules(
        cues=tuple(cues),
        factoid=re.compile(any_of(data["factoid"])),
        definition=re.compile(any_of(data["definition"])),
        titles=dict(data["titles"]),
        answers=_answer_patterns(data.get("answers", {})),
        members=tuple(data["members"]),
        expansion=re.compile(any_of(data["expansion"])),
        kinds=re.compile(any_of(data["kinds"])),
    )


def _answer_patterns(data: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    for name, patterns in data.items():
        if name not in (*INTENTS, "expansion", "members"):
            raise ValueError(f"unknown intent {name!r} under 'answers'")
        for pattern in patterns:
            re.compile(pattern.replace("{subject}", "x"))  # a bad pattern fails at load, not at use
    return {name: tuple(patterns) for name, patterns in data.items()}


def intent_of(question: str) -> Intent:
    """The intent of ``question`` (see the module docstring for the rules)."""
    lower = " ".join(question.lower().split())
    if asks_yes_no(lower):
        return "yesno"
    if comparison_asked(lower):
        return "comparison"
    rules = _rules()
    best: tuple[int, int, Intent] | None = None
    for order, (name, pattern) in enumerate(rules.cues):
        m = pattern.search(lower)
        if m and (best is None or (m.start(), order) < best[:2]):
            best = (m.start(), order, name)
    if best is not None:
        return best[2]
    if rules.factoid.search(lower):
        return "factoid_list"
    if rules.definition.search(lower):
        return "definition"
    return "factoid_list"


def states_answer(intent: AnswerKind, subject_forms: Iterable[str], text: str) -> bool:
    """Whether ``text`` states an answer of the kind ``intent`` asks for about the subject spelled
    any of ``subject_forms`` (lower case): a definition says what the subject is, or spells out its
    abbreviation; a list names members of the class asked for.  ``False`` for an intent without
    answer patterns, or without subject forms."""
    return answer_span(intent, subject_forms, text) is not None


def answer_span(intent: AnswerKind, subject_forms: Iterable[str], text: str) -> str | None:
    """The part of ``text`` (lower case, American spelling) that states the answer (see
    :func:`states_answer`; ``intent`` "members"): "leucine, isoleucine and valine are essential amino acids"; else ``None``."""
    forms = _longest_first(subject_forms)
    patterns = _rules().answers.get(intent)
    if not forms or not patterns:
        return None
    # Spelled as the forms are ("aminoacids" reads "amino acids"), punctuation kept for the patterns.
    m = _with_subject(patterns, forms).search(" ".join(americanise(text).split()))
    return m.group() if m is not None else None


def _longest_first(subject_forms: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({f for f in subject_forms if f}, key=len, reverse=True))


@functools.lru_cache(maxsize=64)
def _with_subject(patterns: tuple[str, ...], forms: tuple[str, ...]) -> re.Pattern[str]:
    """``patterns`` as one regex, ``{subject}`` standing for any of ``forms`` (longest first)."""
    subject = "(?:" + "|".join(re.escape(f) for f in forms) + ")"
    return re.compile(any_of(p.replace("{subject}", subject) for p in patterns))


def asks_expansion(question: str) -> bool:
    """Whether ``question`` asks what an abbreviation stands for ("What does tsDMARD stand for?"):
    then only a sentence spelling it out answers (``states_answer("expansion", ...)``)."""
    return _rules().expansion.search(question.lower()) is not None


def asks_for_kinds(question: str) -> bool:
    """Whether ``question`` asks for the types or forms of something ("What are the 4 types of
    holoprosencephaly?"): a list of names may answer it whatever its intent."""
    return _rules().kinds.search(question.lower()) is not None


def asks_for_members(question: str, subject_forms: Iterable[str]) -> bool:
    """Whether ``question`` asks for the members of its subject ("List the essential amino acids",
    subject spelled any of ``subject_forms``, folded) rather than for things about it ("Which genes
    are mutated in holoprosencephaly?"): only then does a sentence naming members answer it
    (``states_answer("members", ...)``)."""
    forms = _longest_first(subject_forms)
    if not forms:
        return False
    folded = " ".join(_WORDS.findall(americanise(question)))
    return _with_subject(_rules().members, forms).search(folded) is not None


def title_pattern(intent: Intent) -> str | None:
    """The title pattern of ``intent`` ("Adverse Effects of {subject}"), or ``None`` (the question)."""
    return _rules().titles.get(intent)
