"""The ``Synthesizer`` protocol and the steps every synthesizer's output goes through.

A synthesizer writes a *draft*: claims that cite spans of the retrieved
documents, grouped into sections, with no reference numbers.  The pipeline
then verifies each claim (:mod:`curbside.answer.verify`) and :func:`finalize` numbers
the references in order of first use and adds the warnings a reader needs
(thin evidence, retracted sources).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from curbside.retrieval.evidence import document_label
from curbside.retrieval.intent import intent_of, title_pattern
from curbside.retrieval.subject import subject_of
from curbside.retrieval.vocabulary import natural_order
from curbside.types import Article, ArticleSection, ArticleWarning, Claim, Document, Hit, Query, Reference

#: Fewer distinct supporting documents than this raises a "thin evidence" warning.
THIN_EVIDENCE_DOCUMENTS = 3


class Synthesizer(Protocol):
    """Writes a draft article from a query and its evidence; one main method."""

    name: str

    def synthesize(self, query: Query, hits: Sequence[Hit]) -> Article:
        """Return a draft: every claim cites spans of ``hits``' documents; references may be empty."""
        ...


def title_for(query: Query) -> str:
    """A reference-style title naming the subject in reading order: "Causes of Leukopenia", "Adverse
    Effects of Clozapine", "Hereditary Angioedema: Definition and Classification".  The pattern comes
    from the question's intent (:mod:`curbside.retrieval.intent`); a yes/no, comparison or factoid question,
    or one whose subject is unknown, is titled by the question itself."""
    pattern = title_pattern(intent_of(query.text))
    subject = subject_name(query)
    if pattern and subject:
        return pattern.format(subject=subject)
    text = query.text.strip().rstrip("?").strip()
    return text[:1].upper() + text[1:] if text else "Answer"


def subject_name(query: Query) -> str:
    """The main subject's name for a title: its vocabulary heading in reading order when the question
    names one ("Leukopenia" for "leucopenia"), else its words as the question spells them."""
    main = subject_of(query).main
    if main is None:
        return ""
    for concept in query.concepts:
        if concept.text == main.text and concept.preferred:
            name = natural_order(concept.preferred)
            # MeSH names some headings in the plural ("Angioedemas, Hereditary"); a title names the
            # condition as the question does: "Hereditary Angioedema".
            if name.endswith("s") and name[:-1].lower() == concept.text.lower():
                name = name[:-1]
            return name
    # The subject's terms are folded to lower case; the title spells them as the question does.
    spelled = re.search(rf"(?<!\w){re.escape(main.text)}(?!\w)", query.text, re.IGNORECASE)
    words = (spelled.group(0) if spelled else main.text).split()
    # Keep the question's capitals ("VPS4A", "HbA1c"); capitalise only an all-lower first word.
    if words and words[0].islower():
        words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def subject_in_sentence(query: Query) -> str:
    """The subject's name as it reads mid-sentence: as the question writes it where the question
    names it so ("meningococcal infection", "HIV"), else the title's name with a lower-case first
    word where that word is a common noun ("leukopenia"; "Crohn Disease" kept)."""
    name = subject_name(query)
    if not name:
        return ""
    asked = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", query.text, re.IGNORECASE)
    if asked is not None and asked.start() > 0:
        return asked.group(0)
    named = in_sentence(name)
    main = subject_of(query).main
    if main is not None and named != named.lower():
        # "Essential Amino Acids" reads as the question spells it, "essential aminoacids", where the
        # question writes it in lower case (an eponym the question capitalises stays "Crohn Disease").
        spelled = re.search(rf"(?<!\w){re.escape(main.text)}(?!\w)", query.text, re.IGNORECASE)
        if spelled is not None and spelled.start() > 0 and spelled.group(0).islower():
            return spelled.group(0)
    return named


def in_sentence(name: str) -> str:
    """A name as it reads mid-sentence: "leukopenia", "adalimumab", but "HIV" and "Crohn Disease" kept."""
    first = name.split(" ", 1)[0]
    return name[:1].lower() + name[1:] if first[1:].islower() and " " not in name else name


def finalize(article: Article, documents: Mapping[str, Document]) -> Article:
    """Number references by first citation (bottom line, then sections in order), add warnings, and give
    each claim the setting its record adds ("In mice", "In patients with ..."; :func:`curbside.answer.context.setting`)."""
    article = _with_settings(article, documents)
    order: dict[str, int] = {}
    for claim in article.all_claims():
        for doc_id in claim.document_ids:
            order.setdefault(doc_id, len(order) + 1)
    references = []
    for doc_id, number in order.items():
        doc = documents.get(doc_id)
        if doc is None:
            continue
        references.append(
            Reference(
                number=number,
                document_id=doc_id,
                title=doc.title,
                journal=doc.journal or doc.issuer,
                year=doc.year,
                label=document_label(doc),
                pmid=doc.pmid,
                doi=doc.identifiers.get("doi"),
                url=doc.url,
                retracted=doc.retracted,
            )
        )
    warnings = list(article.warnings)
    codes = {w.code for w in warnings}
    if not order and "insufficient-evidence" not in codes:
        warnings.append(
            ArticleWarning(
                "insufficient-evidence",
                "Insufficient evidence: no passage in the store supports an answer to this question.",
            )
        )
    elif 0 < len(order) < THIN_EVIDENCE_DOCUMENTS and "thin-evidence" not in codes:
        warnings.append(
            ArticleWarning(
                "thin-evidence",
                f"Thin evidence: this answer rests on {len(order)} source"
                f"{'s' if len(order) != 1 else ''}; treat it as provisional.",
            )
        )
    retracted = [r for r in references if r.retracted]
    if retracted and "retracted-source" not in codes:
        nums = ", ".join(f"[{r.number}]" for r in retracted)
        warnings.append(ArticleWarning("retracted-source", f"Cited source {nums} has been retracted."))
    if article.removed_claims and "claims-removed" not in codes:
        n = len(article.removed_claims)
        warnings.append(
            ArticleWarning(
                "claims-removed",
                f"{n} draft claim{'s were' if n != 1 else ' was'} removed: not supported by the cited "
                "passage, misleading where it stood, or not about the question (each listed with its "
                "reason under 'Removed claims').",
            )
        )
    return replace(article, references=tuple(references), warnings=tuple(warnings))


def reference_numbers(article: Article) -> dict[str, int]:
    """``document id -> reference number`` for renderers."""
    return {r.document_id: r.number for r in article.references}


def drop_empty_sections(sections: Sequence[ArticleSection]) -> tuple[ArticleSection, ...]:
    out = []
    for section in sections:
        subs = drop_empty_sections(section.subsections)
        if section.claims or subs:
            out.append(replace(section, subsections=subs))
    return tuple(out)


def _with_settings(article: Article, documents: Mapping[str, Document]) -> Article:
    from curbside.answer.context import setting
    from curbside.answer.sentences import SUMMARY_CATEGORY

    def one(claim: Claim) -> Claim:
        if claim.context or not claim.citations or claim.citations[0].part == "title":
            return claim
        if claim.category == SUMMARY_CATEGORY:
            return claim  # composed from several claims: each carries its own setting in its section
        found = setting(documents.get(claim.citations[0].document_id), claim.text)
        return replace(claim, context=found) if found else claim

    return article.map_claims(one)
