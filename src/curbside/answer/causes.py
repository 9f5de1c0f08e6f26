"""Cause categories for causes articles: what puts a sentence or a document under "Medications".

Rules are data, so a reviewer can read why a cause is listed where it is:
each :class:`CauseCategory` has MeSH descriptor fragments, MeSH qualifier
weights ("chemically induced", "virology") and words matched in the sentence
itself.  :func:`cause_category` tries the sentence's words first and the
document's MeSH second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from curbside.answer.sentences import cues
from curbside.types import Document

__all__ = [
    "CAUSE_CATEGORIES",
    "OTHER_CATEGORY",
    "OVERVIEW_CATEGORIES",
    "CauseCategory",
    "category_counts",
    "cause_category",
    "document_categories",
]


@dataclass(frozen=True, slots=True)
class CauseCategory:
    """A group of causes and what puts a sentence or a document in it.

    ``mesh`` holds lowercase fragments of MeSH descriptor names; ``qualifiers``
    gives the weight a MeSH qualifier adds; ``words`` is matched against the
    sentence itself.
    """

    key: str
    label: str
    mesh: tuple[str, ...]
    qualifiers: tuple[tuple[str, float], ...]
    words: re.Pattern[str] | None


def _fragments(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


#: Cause categories in display order; "other" is the fallback and matches nothing itself.
CAUSE_CATEGORIES: Final[tuple[CauseCategory, ...]] = (
    CauseCategory(
        "infections",
        "Infections",
        _fragments(
            "infection|sepsis|bacteremia|viremia|hiv|hepatitis|tuberculosis|malaria|virus diseases"
            "|epstein-barr"
            "|cytomegalovirus|influenza|covid-19|dengue|typhoid|brucellosis|leishmaniasis|parvovirus|measles"
            "|ehrlichiosis|rickettsia|mononucleosis"
        ),
        (("virology", 1.5), ("microbiology", 1.5), ("parasitology", 1.5)),
        cues(
            r"vir(?:al|us|uses)\b|hiv\b|aids\b|seps[ie]s|septic|bacter|tubercul|malaria|hepatitis|infecti"
            r"|cytomegalovirus|cmv\b|epstein|ebv\b|influenza|covid|sars-cov|dengue|typhoid|brucell|leishmania"
            r"|parvovirus|measles|rickettsi|ehrlichi|mononucleosis"
        ),
    ),
    CauseCategory(
        "medications",
        "Medications and toxins",
        _fragments(
            "antineoplastic|antipsychotic|clozapine|drug-related side effects|drug hypersensitivity"
            "|antithyroid"
            "|methimazole|propylthiouracil|carbamazepine|methotrexate|benzene|radiation injuries"
            "|immunosuppressive agents|anti-bacterial agents|alcoholism|ethanol|alcohol drinking"
            "|dimethyl fumarate"
        ),
        # "drug therapy" on a condition means *treated with* drugs, which in a cytopenia paper is
        # often the cause (chemotherapy); it weighs little so that any stronger signal wins.
        (
            ("chemically induced", 2.0),
            ("adverse effects", 2.0),
            ("toxicity", 2.0),
            ("poisoning", 2.0),
            ("drug therapy", 0.5),
        ),
        cues(
            r"drug-induced|drug-related|drugs?\b|medications?\b|chemotherap|cytotoxic|clozapine|methotrexate"
            r"|carbamazepine|valpro|antibiotic|beta-lactam|penicillin|cephalosporin|vancomycin|trimethoprim"
            r"|sulfamethoxazole|co-trimoxazole|linezolid|ganciclovir|zidovudine|azathioprine|mycophenolate"
            r"|rituximab|antithyroid|methimazole|carbimazole|propylthiouracil|dapsone|deferiprone"
            r"|sulfasalazine"
            r"|interferon|ticlopidine|phenytoin|levamisole|benzene|radiation|radiotherapy|toxins?\b|toxic\b"
            r"|alcohol|immunosuppress|antipsychotic|anticonvulsant|nsaids?\b|metamizole|dipyrone|myelotoxic"
            r"|fumarate|dmf\b|ocrelizumab|fingolimod|cladribine|alemtuzumab|levamisole|aminopyrine|mianserin"
            r"|cyclophosphamide|azathioprine|thiopurine"
            # Drug-name stems: monoclonal antibodies, kinase inhibitors, platins, taxanes, anthracyclines.
            r"|\w+(?:mab|tinib|ciclib|platin|taxel|rubicin|mustine|citabine|trexate)\b"
        ),
    ),
    CauseCategory(
        "malignancy",
        "Malignancy and marrow infiltration",
        _fragments(
            "leukemia|lymphoma|neoplasm|multiple myeloma|primary myelofibrosis|carcinoma|myelophthisic"
        ),
        (),
        cues(
            r"leuka?emi|lymphoma|myeloma|malignan|cancers?\b|tumou?rs?\b|metasta|neoplas|marrow infiltration"
            r"|myelophthisi|carcinoma|myelofibrosis|large granular lymphocyt|hairy cell|reticuloendotheliosis"
        ),
    ),
    CauseCategory(
        "autoimmune",
        "Autoimmune and inflammatory",
        _fragments("lupus|autoimmune|arthritis, rheumatoid|felty|sjogren|sarcoidosis|vasculitis"),
        (),
        cues(
            r"lupus|sle\b|autoimmun|rheumatoid|felty|sj[oö]gren|anti-?neutrophil antibod|sarcoid|vasculitis"
            r"|immune-mediated|autoantibod"
        ),
    ),
    CauseCategory(
        "marrow-failure",
        "Bone-marrow failure",
        _fragments(
            "anemia, aplastic|myelodysplastic|bone marrow failure|bone marrow diseases|pancytopenia"
            "|hemoglobinuria, paroxysmal"
        ),
        (),
        cues(
            r"aplastic|myelodysplas|mds\b|marrow failure|hypoplas|paroxysmal nocturnal|pnh\b|pure white cell"
        ),
    ),
    CauseCategory(
        "sequestration",
        "Liver disease and hypersplenism",
        _fragments("hypersplenism|splenomegaly|hypertension, portal|liver cirrhosis"),
        (),
        cues(r"hypersplen|splenomegal|sequestration|portal hypertension|cirrhosis"),
    ),
    CauseCategory(
        "nutritional",
        "Nutritional deficiencies",
        _fragments(
            "vitamin b 12 deficiency|folic acid deficiency|malnutrition|anorexia nervosa|starvation"
            "|deficiency diseases|copper"
        ),
        (),
        cues(
            r"vitamin b ?12|b12\b|cobalamin|folate|folic acid|copper deficiency|malnutrition|malnourish"
            r"|anorexia nervosa|starvation|nutritional|zinc"
        ),
    ),
    CauseCategory(
        "congenital",
        "Inherited and congenital disorders",
        _fragments("congenital|hereditary|familial|genetic diseases|shwachman|chediak|wiskott|barth"),
        (("congenital", 2.0), ("genetics", 1.5)),
        cues(
            r"congenital|inherited|hereditary|familial|genetic|mutation|germline|kostmann|shwachman|elane\b"
            r"|hax1\b|cyclic neutropenia|barth|chediak|wiskott|gata2\b|whim\b|autosomal|recessive"
            r"|pathogenic variants?|glycogen storage"
        ),
    ),
    CauseCategory("other", "Other", (), (), None),
)
OTHER_CATEGORY: Final = CAUSE_CATEGORIES[-1]
#: A sentence naming this many categories is an overview ("infections, drugs and malignancy...").
OVERVIEW_CATEGORIES: Final = 3


def document_categories(doc: Document) -> dict[str, float]:
    """Category -> weight from MeSH descriptors and qualifiers; a major topic counts double."""
    scores: dict[str, float] = {}
    for heading in doc.mesh:
        name = heading.descriptor.lower()
        major = 2.0 if heading.major else 1.0
        for cat in CAUSE_CATEGORIES:
            if any(fragment in name for fragment in cat.mesh):
                scores[cat.key] = scores.get(cat.key, 0.0) + major
            for qualifier in heading.qualifiers:
                for wanted, weight in cat.qualifiers:
                    if qualifier.name.lower() == wanted:
                        boost = 2.0 if qualifier.major or heading.major else 1.0
                        scores[cat.key] = scores.get(cat.key, 0.0) + weight * boost
    return scores


#: A vaccine is a medical product, not an infection: "thrombocytopenia after COVID-19 vaccines" names
#: the vaccine as the cause, and the disease it prevents only as its name.
_VACCINE: Final = cues(r"vaccin|immuni[sz]ation")


def category_counts(text: str) -> dict[str, int]:
    """Distinct category words in ``text``, per category (a vaccine counts as a medication, never as
    the infection it is named after)."""
    counts = {
        c.key: len({m.group().lower() for m in c.words.finditer(text)}) for c in CAUSE_CATEGORIES if c.words
    }
    if _VACCINE.search(text):
        counts["infections"] = 0
        counts["medications"] = counts.get("medications", 0) + 1
    return counts


def cause_category(
    text: str, doc: Document | None = None, *, doc_scores: dict[str, float] | None = None
) -> CauseCategory:
    """The category of a cause sentence: its own words first, then its document's MeSH.

    A sentence naming one category's terms more often than any other's goes
    there; a tie goes to the category its document's MeSH favours, then to
    table order.  A sentence naming none takes its document's strongest MeSH
    category, else "Other".  ``doc_scores`` lets a caller reuse the MeSH scores.
    """
    counts = category_counts(text)
    scores = doc_scores if doc_scores is not None else (document_categories(doc) if doc is not None else {})
    best = max(counts.values(), default=0)
    if best > 0:
        tied = [c for c in CAUSE_CATEGORIES if counts.get(c.key, 0) == best]
        return max(tied, key=lambda c: scores.get(c.key, 0.0))  # max keeps the first of equals
    if scores:
        top = max(scores.values())
        return next(c for c in CAUSE_CATEGORIES if scores.get(c.key, 0.0) == top)
    return OTHER_CATEGORY
