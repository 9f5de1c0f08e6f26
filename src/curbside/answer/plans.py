"""Section plans of the extractive synthesizer: which sections an article of each question type
(and intent) has, and the cue that draws a sentence into each.

The plans are data (``data/section_plans.json``), so a reviewer can read what puts a sentence under
"Common pitfalls" without reading the synthesizer (:mod:`curbside.answer.extractive`), which
applies them through :mod:`curbside.answer.placement`.  This module reads and checks the file once,
at import: a plan naming a cue or a section that does not exist is a :class:`ConfigError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, cast

from curbside.datafiles import any_of, cues, load_data
from curbside.models.roles import ROLE_CUES
from curbside.retrieval.intent import Intent
from curbside.types import QuestionType

__all__ = [
    "CAUSE_SECTION_CUES",
    "INTENT_LEADS",
    "INTENT_PLANS",
    "LEAD_SECTIONS",
    "SECTION_PLANS",
    "TOPIC_CUES",
    "YESNO_SECTIONS",
    "SectionSpec",
]


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A planned section and the cue that draws sentences into it.

    A sentence goes to the section whose cue it matches most often (distinct
    matches, at most 3); ``priority`` breaks ties (lower wins), so specific
    cues such as "spurious" beat broad ones such as "infection".  ``cue=None``
    makes a catch-all for relevant sentences (query overlap >= ``min_own``)
    that matched no cue.  ``boost`` is added to the count of a cue that
    matches at all: a statement about children or a caution is about that
    first, whatever cause or outcome it also names.  With ``requires`` a
    sentence also has to match that pattern (or name a cause category) to go
    here: in a causes article a sentence that merely mentions children says
    nothing about special populations' causes.
    """

    key: str
    heading: str
    cue: re.Pattern[str] | None
    priority: int = 5
    intro: str = ""
    style: Literal["paragraph", "bullets"] = "bullets"
    min_own: float = 0.0
    boost: int = 0
    requires: re.Pattern[str] | None = None


@dataclass(frozen=True)
class _Plans:
    cues: dict[str, re.Pattern[str]]
    sections: dict[QuestionType, tuple[SectionSpec, ...]]
    intents: dict[Intent, tuple[SectionSpec, ...]]
    topics: dict[QuestionType, re.Pattern[str]]
    leads: dict[Intent, tuple[dict[str, int], re.Pattern[str]]]
    type_leads: dict[QuestionType, dict[str, int]]
    yesno: dict[str, tuple[str, str]]


def _any_of(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    return re.compile(any_of(p.pattern for p in patterns), re.IGNORECASE)


def _build(data: Any) -> _Plans:
    raw: dict[str, Any] = data["cues"]
    built: dict[str, re.Pattern[str]] = {}

    def cue(name: str, seen: tuple[str, ...] = ()) -> re.Pattern[str]:
        if name.startswith("@"):
            return ROLE_CUES[name[1:]]
        if name in seen:
            raise ValueError(f"cue {name!r} refers to itself")
        if name not in built:
            spec = raw[name]
            if isinstance(spec, dict):
                built[name] = _any_of([cue(part, (*seen, name)) for part in spec["any"]])
            else:
                built[name] = cues(*spec)
        return built[name]

    def section(fields: dict[str, Any], base: SectionSpec | None = None) -> SectionSpec:
        values = {k: v for k, v in fields.items() if k != "use"}
        for key in ("cue", "requires"):
            if values.get(key) is not None:
                values[key] = cue(values[key])
        return replace(base, **values) if base is not None else SectionSpec(**values)

    shared = {key: section(fields) for key, fields in data["sections"].items()}

    def plan(items: list[Any]) -> tuple[SectionSpec, ...]:
        out = []
        for item in items:
            if isinstance(item, str):
                out.append(shared[item])
            elif "use" in item:
                out.append(section(item, shared[item["use"]]))
            else:
                out.append(section(item))
        return tuple(out)

    for name in raw:
        cue(name)  # every cue compiles, even one no plan uses yet
    return _Plans(
        cues=built,
        sections={cast(QuestionType, k): plan(v) for k, v in data["plans"].items()},
        intents={cast(Intent, k): plan(v) for k, v in data["intent_plans"].items()},
        topics={cast(QuestionType, k): _any_of([cue(n) for n in v]) for k, v in data["topics"].items()},
        leads={
            cast(Intent, k): (dict(v["sections"]), cue(v["topic"])) for k, v in data["intent_leads"].items()
        },
        type_leads={cast(QuestionType, k): dict(v) for k, v in data["type_leads"].items()},
        yesno={k: (str(heading), str(intro)) for k, (heading, intro) in data["yesno_sections"].items()},
    )


_PLANS: Final = load_data("section_plans.json", "section plans", _build)

#: What files a sentence under Causes: causal wording, or a condition presenting with the subject
#: ("SFTS presents with fever, thrombocytopenia and leukopenia"); both from data/role_cues.json, where
#: their precision and recall on the labelled sentences are noted.  The answer-role model must agree.
CAUSE_SECTION_CUES: Final = _PLANS.cues["cause_section"]
#: Sections planned for each question type, in display order.  Yes/no sections are filled by
#: polarity, not cues (see :meth:`ExtractiveSynthesizer.synthesize`).
SECTION_PLANS: Final = _PLANS.sections
#: Plans by the question's intent (:mod:`curbside.retrieval.intent`) where its coarse type has none
#: that fits.
INTENT_PLANS: Final = _PLANS.intents
#: What a sentence must be about to lead a non-causes article or to fill its catch-all section: an
#: article on treating febrile neutropenia is not the place for "febrile neutropenia occurred in 3%".
TOPIC_CUES: Final = _PLANS.topics
#: The sections (section key -> lead weight) and topic that lead an intent's article.
INTENT_LEADS: Final = _PLANS.leads
#: Per question type: how strongly filing a sentence under a section qualifies it to lead the article.
LEAD_SECTIONS: Final = _PLANS.type_leads
#: Sections of a yes/no article (key -> heading, intro), filled by polarity.
YESNO_SECTIONS: Final = _PLANS.yesno
