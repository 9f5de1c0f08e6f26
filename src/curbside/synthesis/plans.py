"""Section plans of the extractive synthesizer: which sections an article of each question type
(and intent) has, and the cue that draws a sentence into each.

Rules are data, so a reviewer can read what puts a sentence under "Common pitfalls" without reading
the synthesizer (:mod:`curbside.synthesis.extractive`), which applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final, Literal

from curbside.intent import Intent
from curbside.synthesis.placement import CAUSAL_CUES, CAUSE_SECTION_CUES
from curbside.synthesis.sentences import cues
from curbside.types import QuestionType

__all__ = ["INTENT_LEADS", "INTENT_PLANS", "SECTION_PLANS", "TOPIC_CUES", "SectionSpec"]

# --------------------------------------------------------------------------------------------------
# Sections per question type.  Rules are data, so a reviewer can read what puts a sentence under
# "Common pitfalls" without reading code.


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


_UNIT: Final = r"(?:×|x|\*)\s*10|cells?\s*/|/\s*(?:µl|ul|mcl|mm3|mm\(3\)|l\b)|per (?:µl|microlit|mm3|cubic)"
_DEFINITION_CUES: Final = cues(
    r"(?:is|are|was|were) defined as|definition|refers? to|is characteri[sz]ed by",
    r"is an? (?:abnormal(?:ly)? )?(?:condition|disorder|syndrome|reduction|decrease|low)",
    r"(?:mild|moderate|severe)\s*\(",
    # A threshold is a comparator, a number and a count unit: "below 4,000 cells/µL", "< 1.5 × 10^9/L".
    rf"(?:[<≤]|less than|fewer than|below|under)\s*\d[\d,.]*\s*(?:{_UNIT})",
    r"mild\b.{0,60}\bmoderate\b.{0,60}\bsevere",
)
_PITFALL_CUES: Final = cues(
    r"pseudo(?:-|neutro|leu[ck]o|thrombo|lympho|cytopeni|hypo|hyper)|spurious|artifact|artefact|misdiagnos"
    r"|overdiagnos|overlooked|should not|must not|benign ethnic|diurnal",
    r"laboratory error|edta|clumping|falsely|mistaken|(?:under|over)estimat|not be confused|pitfall",
    r"caution|unnecessary|misinterpret",
)
_SIGNIFICANCE_CUES: Final = cues(
    r"risk of (?:\w+ )?infection|infection risk|infectious complication|febrile(?! neutropeni)|fever|mortality|death"
    r"|prognos",
    r"survival|morbidity|life-threatening|hospitali[sz]|outcome|complication",
)
_POPULATION_CUES: Final = cues(
    r"child|pa?ediatric|infant|neonat|newborn|preterm|pregnan|elderly|older (?:adults|patients|people)"
    r"|geriatric",
    r"ethnic|african|black|racial|race\b|duffy|yemenite|middle eastern",
)
#: What a "Special populations" sentence of a causes article must also say: a cause, a consequence
#: or a definition, not only that the patients were children.
_CLINICAL_CUES: Final = re.compile(
    "|".join(
        p.pattern
        for p in (
            CAUSAL_CUES,
            _DEFINITION_CUES,
            # Not "febrile": "febrile neutropenia programme" names a condition, not a consequence.
            cues(
                r"risk of|mortality|death|died|surviv|life-threatening|hospitali[sz]|complication|morbidity"
            ),
        )
    ),
    re.IGNORECASE,
)
_CLASSIFICATION_CUES: Final = cues(
    r"classif|subtype|types? of|categor|grade|primary|secondary|acquired|congenital|acute|chronic",
    r"mild|moderate|severe",
)
_FIRST_LINE_CUES: Final = cues(
    r"first[- ]line|initial (?:treatment|therapy|management)|recommended|standard (?:of care|treatment"
    r"|therapy)",
    r"treatment of choice|drug of choice|mainstay|should (?:be )?(?:receive|treated|given|start|initiat)"
    r"|indicated",
)
_ALTERNATIVE_CUES: Final = cues(
    r"alternative|second[- ]line|third[- ]line|refractory|salvage|switch|if .{0,40}fail|intoleran|add-on",
)
_EFFECT_CUES: Final = cues(
    r"effective|efficacy|improv|reduc|response|remission|benefi|superior|non-?inferior"
)
_DOSING_CUES: Final = cues(
    r"\d+(?:\.\d+)?\s*(?:mg|mcg|µg|g|iu|units?)\b|mg/kg|dose|dosing|dosage|daily|twice|once|titrat|regimen",
    r"per day",
)
_ADJUSTMENT_CUES: Final = cues(
    r"renal|kidney|hepatic|liver|creatinine clearance|egfr|adjust|body weight|obes|elderly|child|pa?ediatric"
)
# Advice on what to watch, not a study's measurements ("X was measured before and after ..."): a
# bare "measure" or "follow-up" describes the methods of the paper quoted.
_MONITORING_CUES: Final = cues(
    r"monitor(?:ing|ed)? (?:of|is|are|should|must|for|during|every|weekly|monthly)|should be monitored"
    r"|must be monitored|surveillance|weekly|monthly|blood counts?|(?:renal|liver) function"
    r"|levels? should|should be (?:checked|measured)|regular(?:ly)? (?:check|measure|monitor)"
)
_WORKUP_CUES: Final = cues(
    r"evaluat|assess|work-?up|history|examination|algorithm|approach|should be (?:performed|obtained"
    r"|considered)",
    r"initial|investigation|diagnos",
)
_TEST_CUES: Final = cues(
    r"test|sensitivity|specificity|threshold|cut-?off|smear|biopsy|aspirat|assay|flow cytometry|serolog"
    r"|pcr\b",
    r"count|level|predictive value|accuracy|auc\b|imaging",
)
_DIFFERENTIAL_CUES: Final = cues(
    r"differential|distinguish|mimic|rule out|exclude|differentiat|confused with"
)
_COMPARISON_CUES: Final = cues(
    r"compared (?:with|to)|versus|vs\b|than\b|superior|inferior|difference|similar|comparable|equivalent"
)
_SAFETY_CUES: Final = cues(r"adverse|side effect|toxicit|safety|tolerat|bleeding|discontinu")
_OUTCOME_CUES: Final = cues(
    r"mortality|surviv|death|recurren|relapse|remission|outcome|prognos|life expectancy"
)
_PROGNOSTIC_CUES: Final = cues(
    r"predict|independent|risk factor|associated with|hazard ratio|odds ratio|hr\b|or\b\s*[=:]"
)

_PITFALLS = SectionSpec(
    "pitfalls", "Common pitfalls", _PITFALL_CUES, 0, "Cautions raised in the retrieved sources.", boost=1
)
_DEFINITION = SectionSpec(
    "definition",
    "Definition and classification",
    _DEFINITION_CUES,
    1,
    "How the retrieved sources define it.",
    "bullets",  # definitions and threshold bands read as a list, as a reference page gives them
)
_SIGNIFICANCE = SectionSpec(
    "significance", "Clinical significance", _SIGNIFICANCE_CUES, 3, "Consequences reported in the sources."
)
_OTHER = SectionSpec("other-findings", "Other findings", None, 9, "Further relevant statements.", min_own=0.5)
_TREATMENT_TOPIC: Final = cues(
    # Not "treatment-related adverse events" or "treatment disruption": those are harms, not options.
    r"treat(?!ment[- ](?:related|emergent|disruption|delay|interruption))|therap(?!y[- ]related)|manag"
    r"|antibiotic|antimicrobial|drugs?\b|regimen|administ|given|receiv|first[- ]line"
    r"|recommend|effective|efficacy|respon|remission|doses?\b|prophyla"
)
_DIAGNOSIS_TOPIC: Final = cues(
    r"diagnos|tests?\b|testing|sensitiv|specific|predict|detect|screen|assay|imaging|biopsy|marker|accura"
    r"|threshold|cut-?off|identif"
)
#: What a sentence must be about to lead a non-causes article or to fill its catch-all section: an
#: article on treating febrile neutropenia is not the place for "febrile neutropenia occurred in 3%".
TOPIC_CUES: Final[dict[QuestionType, re.Pattern[str]]] = {
    "treatment": _TREATMENT_TOPIC,
    "diagnosis": _DIAGNOSIS_TOPIC,
    "dosing": _DOSING_CUES,
    "prognosis": re.compile(f"{_OUTCOME_CUES.pattern}|{_PROGNOSTIC_CUES.pattern}", re.IGNORECASE),
}
_KEY_FINDINGS = SectionSpec(
    "key-findings", "Key findings", None, 9, "The most relevant statements retrieved."
)
_CAUSES = SectionSpec(
    "causes",
    "Causes",
    CAUSE_SECTION_CUES,
    4,
    "Causes reported in the retrieved literature, grouped by category.",
)

#: Sections planned for each question type, in display order.  Yes/no sections are filled by
#: polarity, not cues (see :meth:`ExtractiveSynthesizer.synthesize`).
SECTION_PLANS: Final[dict[QuestionType, tuple[SectionSpec, ...]]] = {
    "causes": (
        _DEFINITION,
        _CAUSES,
        SectionSpec(
            "special-populations",
            "Special populations",
            _POPULATION_CUES,
            2,
            "Particular patient groups.",
            boost=1,
            requires=_CLINICAL_CUES,
        ),
        _SIGNIFICANCE,
        _PITFALLS,
    ),
    "treatment": (
        SectionSpec(
            "first-line", "First-line options", _FIRST_LINE_CUES, 1, "Recommended or initial treatments."
        ),
        SectionSpec(
            "alternatives", "Alternatives", _ALTERNATIVE_CUES, 2, "Options after or instead of first line."
        ),
        SectionSpec(
            "effectiveness", "Evidence on effectiveness", _EFFECT_CUES, 6, "Reported treatment effects."
        ),
        SectionSpec(
            "dosing", "Dosing notes", _DOSING_CUES, 3, "Doses as reported in the sources; check labels."
        ),
        SectionSpec("monitoring", "Monitoring", _MONITORING_CUES, 4, "What the sources say to monitor."),
        _PITFALLS,
        replace(_OTHER, requires=_TREATMENT_TOPIC),
    ),
    "diagnosis": (
        _DEFINITION,
        SectionSpec(
            "workup", "Diagnostic approach", _WORKUP_CUES, 5, "How the sources approach the diagnosis."
        ),
        SectionSpec("tests", "Tests and thresholds", _TEST_CUES, 4, "Tests and their reported performance."),
        SectionSpec(
            "differential", "Differential diagnosis", _DIFFERENTIAL_CUES, 2, "Conditions to tell apart."
        ),
        _PITFALLS,
        replace(_OTHER, requires=_DIAGNOSIS_TOPIC),
    ),
    "definition": (
        _DEFINITION,
        SectionSpec(
            "classification", "Classification", _CLASSIFICATION_CUES, 3, "Types and grades described."
        ),
        _SIGNIFICANCE,
        _PITFALLS,
        _OTHER,
    ),
    "prognosis": (
        SectionSpec("outcomes", "Outcomes", _OUTCOME_CUES, 3, "Outcomes reported in the sources."),
        SectionSpec(
            "prognostic-factors", "Prognostic factors", _PROGNOSTIC_CUES, 2, "Factors linked to outcome."
        ),
        _PITFALLS,
        _KEY_FINDINGS,
    ),
    "dosing": (
        SectionSpec("dosing", "Dosing", _DOSING_CUES, 2, "Doses as reported in the sources; check labels."),
        SectionSpec(
            "adjustments", "Dose adjustments", _ADJUSTMENT_CUES, 1, "Adjustments for particular patients."
        ),
        SectionSpec("monitoring", "Monitoring", _MONITORING_CUES, 3, "What the sources say to monitor."),
        _PITFALLS,
        replace(_OTHER, requires=_DOSING_CUES),
    ),
    "comparison": (
        SectionSpec("comparisons", "Comparisons", _COMPARISON_CUES, 2, "Head-to-head findings."),
        SectionSpec("safety", "Safety", _SAFETY_CUES, 1, "Adverse effects reported."),
        _PITFALLS,
        _KEY_FINDINGS,
    ),
    "general": (_KEY_FINDINGS, _PITFALLS),
    "yesno": (),
}
#: A harm reported for the question's subject: what an adverse-effects or complications article is about.
_HARM_CUES: Final = cues(
    r"adverse|side[- ]effect|toxicit|induced|-related|associated with|develop|caus|risk of|incidence"
    r"|occurr|complicat|reaction|injur|safety|tolerab|discontinu|withdr[ae]w|fatal|death"
)
_SPECIAL_POPULATIONS = SECTION_PLANS["causes"][2]
#: How a drug or molecule acts: its target, what it binds, blocks or activates.
_MECHANISM_CUES: Final = cues(
    r"inhibit|block|bind|agonist|antagon|target|receptor|enzyme|pathway|mechanism|mediat|activat"
    r"|suppress|modulat|signal|express"
)
#: How common a condition is: rates, counts per population, trends.
_FREQUENCY_CUES: Final = cues(
    r"prevalen|incidence|per (?:100|1,?000|10,?000|100,?000)|\d+(?:\.\d+)?\s?%|rate of|rates|common"
    r"|frequen|epidemiolog|burden|affects? (?:about|approximately|an estimated|\d)"
)
#: What prevents a condition: vaccines, prophylaxis, avoidance, screening, and its effect.
_PREVENTION_CUES: Final = cues(
    r"prevent|prophyla|vaccin|immuni[sz]|avoid|screen|reduc(?:e|ed|es|ing) the (?:risk|incidence)"
    r"|protect|chemoprevent|lower(?:ed|s)? the risk"
)
#: Plans by the question's intent (curbside.intent) where its coarse type has none that fits: "What
#: are the side effects of clozapine?" is typed "definition" for the models, but asks for harms.
INTENT_PLANS: Final[dict[Intent, tuple[SectionSpec, ...]]] = {
    "adverse_effects": (
        SectionSpec("adverse-effects", "Adverse effects", _HARM_CUES, 4, "Harms reported in the sources."),
        SectionSpec("monitoring", "Monitoring", _MONITORING_CUES, 3, "What the sources say to monitor."),
        _SPECIAL_POPULATIONS,
        _PITFALLS,
        replace(_OTHER, requires=_HARM_CUES),
    ),
    "complications": (
        SectionSpec(
            "complications", "Complications", _HARM_CUES, 4, "Complications reported in the sources."
        ),
        _SPECIAL_POPULATIONS,
        _PITFALLS,
        replace(_OTHER, requires=_HARM_CUES),
    ),
    "mechanism": (
        SectionSpec("mechanism", "Mechanism of action", _MECHANISM_CUES, 2, "How the sources say it acts."),
        _DEFINITION,
        SectionSpec("effects", "Clinical effects", _EFFECT_CUES, 4, "Effects reported in the sources."),
        _PITFALLS,
        _OTHER,
    ),
    "epidemiology": (
        SectionSpec(
            "frequency", "Incidence and prevalence", _FREQUENCY_CUES, 2, "How common it is in the sources."
        ),
        replace(_SPECIAL_POPULATIONS, requires=None),
        _PITFALLS,
        _OTHER,
    ),
    "prevention": (
        SectionSpec("prevention", "Preventive measures", _PREVENTION_CUES, 2, "Measures the sources report."),
        SectionSpec(
            "effectiveness", "Evidence on effectiveness", _EFFECT_CUES, 4, "Reported effects of prevention."
        ),
        _PITFALLS,
        _OTHER,
    ),
}
#: The sections and topic that lead an intent's article.  Mechanism, epidemiology and prevention
#: articles have none: a topic there kept every sentence off it from the lead and cost BioASQ 9B
#: summary questions ("What is the role of X in Y?") 0.017 ROUGE-2; their answer detectors
#: (curbside.intent.states_answer) bring what answers them to the front instead.
INTENT_LEADS: Final[dict[Intent, tuple[dict[str, int], re.Pattern[str]]]] = {
    "adverse_effects": ({"adverse-effects": 2}, _HARM_CUES),
    "complications": ({"complications": 2}, _HARM_CUES),
}
