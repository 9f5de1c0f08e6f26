"""Candidate sentences scored by the learned relevance model instead of keyword overlap.

:func:`curbside.answer.sentences.candidate_sentences` still finds, splits,
trims and filters the sentences of the retrieved passages (and scores them by
keywords, which is what curbside falls back to without a model).  With a model
(:mod:`curbside.models.relevance`), :func:`learned_candidates` replaces each sentence's
relevance by the model's probability that it answers the question, embedding
the question and the sentences once per answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from curbside.answer.sentences import Candidate, QueryTerms, query_terms
from curbside.answer.yesno import NEGATIVE_WEIGHT, YesNoAssessment, question_flags, signal
from curbside.ingestion.chunking import split_sentences
from curbside.models.relevance import RelevanceModel, lexical_features, section_kind
from curbside.models.verdicts import Evidence, VerdictModel, choose_evidence, coverage_cues
from curbside.retrieval.embeddings import Embedder
from curbside.retrieval.evidence import animal_only, document_weight
from curbside.retrieval.subject import Subject, subject_of
from curbside.types import SECTION_SEPARATOR, Article, Claim, Document, Hit, Query, YesNo


def learned_candidates(
    query: Query,
    candidates: Sequence[Candidate],
    model: RelevanceModel,
    embedder: Embedder,
    narrower: Sequence[Query] = (),
) -> list[Candidate]:
    """``candidates`` with ``own`` and ``relevance`` the model's probability, best first.

    ``score`` is that probability with a light preference for stronger evidence, so
    that among equally relevant sentences a guideline's comes before a case report's.
    ``narrower``: the question asked of narrower MeSH descriptors of its subject ("What are the
    causes of agranulocytosis?" for leukopenia); a sentence's relevance is its best to any of them,
    since what causes agranulocytosis causes leukopenia, though the model, trained on the words of
    expert questions, does not know that.
    """
    if not candidates:
        return []
    queries = [query, *narrower]
    lexicals = [
        np.asarray(
            [_candidate_features(q, subject, c) for c in candidates],
            dtype=np.float32,
        )
        for q, subject in ((q, subject_of(q)) for q in queries)
    ]
    probabilities = model.score_sentences_any(queries, [c.text for c in candidates], lexicals, embedder)
    scored = [
        replace(c, own=float(p), relevance=float(p), score=float(p) * (0.9 + 0.1 * c.evidence))
        for c, p in zip(candidates, probabilities, strict=True)
    ]
    scored.sort(key=lambda c: (-c.score, c.document.id, c.start))
    return scored


def in_title_context(
    query: Query,
    candidates: Sequence[Candidate],
    model: RelevanceModel,
    embedder: Embedder,
    threshold: float,
) -> tuple[list[Candidate], set[tuple[str, int]]]:
    """``candidates`` with the sentences that report a finding of a paper *about* the subject, without
    naming it, scored again as a reader sees them: under the cited title.

    "Neutropenia occurred in two patients, convulsion in one ..." answers "What are the adverse
    effects of clozapine?" in a paper titled "Clozapine in tardive dyskinesia", though the sentence
    never says "clozapine" and the model, reading it alone, scores it 0.18.  A body sentence below
    ``threshold`` that does not name the subject, from a document whose title does, is scored as the
    title and the sentence read together.
    Returns the candidates, best first, and the keys of those the title lifted over ``threshold``:
    they may fill a list's answer sections only, where the answer-role model also vets them.
    """
    subject = subject_of(query)
    picked = [
        i
        for i, c in enumerate(candidates)
        if c.part == "body"
        and c.relevance < threshold
        and not subject.mentions_main(c.text)
        and subject.addressed_by(c.document.title)
    ]
    if not picked:
        return list(candidates), set()
    texts = [f"{candidates[i].document.title} {candidates[i].text}" for i in picked]
    rows = [
        _candidate_features(query, subject, candidates[i], text)
        for i, text in zip(picked, texts, strict=True)
    ]
    p = model.score_sentences_any([query], texts, [np.asarray(rows, dtype=np.float32)], embedder)
    out = list(candidates)
    lifted: set[tuple[str, int]] = set()
    for i, score in zip(picked, p, strict=True):
        if score >= threshold:
            c = out[i]
            out[i] = replace(
                c, own=float(score), relevance=float(score), score=float(score) * (0.9 + 0.1 * c.evidence)
            )
            lifted.add(c.key)
    out.sort(key=lambda c: (-c.score, c.document.id, c.start))
    return out, lifted


def learned_assessment(
    query: Query,
    hits: Sequence[Hit],
    usable: Sequence[Candidate],
    verdict_model: VerdictModel,
    relevance: RelevanceModel | None,
    embedder: Embedder,
) -> YesNoAssessment:
    """A yes/no verdict from the verdict model (:mod:`curbside.models.verdicts`), shaped like the rules' one.

    The evidence is the results and conclusions of the top three documents read
    *whole* (not only the chunk retrieval returned), with the usable candidates;
    its relevance comes from the relevance model when there is one.  The lead is
    the most relevant usable sentence whose polarity agrees with the verdict.
    """
    equivalence, safety = question_flags(query)
    terms = query_terms(query)
    chosen = verdict_evidence(query, hits, usable, relevance, embedder)
    polarity = {c.key: _signed(c.text, terms, equivalence, safety) for c in usable}
    coverage = coverage_cues(subject_of(query), chosen)
    if not chosen or coverage[0] == 0.0:
        # The evidence names nothing the question is about: the one case for "uncertain".  A
        # relevance floor here said "uncertain" to 204 of 500 PubMedQA questions, whose abstracts
        # lack the title and conclusions the relevance model learned to trust most.
        return YesNoAssessment("uncertain", 0.0, 0.0, 0.0, 0.0, None, False, polarity)
    threshold = relevance.sentence_threshold if relevance is not None else 0.0
    p_yes = verdict_model.judge(query, chosen, embedder, (equivalence, safety), coverage)
    verdict: YesNo = "yes" if p_yes >= verdict_model.threshold else "no"
    sign = 1 if verdict == "yes" else -1
    agreeing = [c for c in usable if c.part == "body" and polarity[c.key] * sign > 0]
    lead = max(agreeing, key=lambda c: c.relevance, default=None)
    strong = [e for e in chosen if e.relevance >= threshold]
    conflict = any(e.signed >= 1 for e in strong) and any(e.signed <= -1 for e in strong)
    positive = sum(e.positive for e in chosen)
    negative = sum(e.negative for e in chosen)
    hedge = sum(e.hedge for e in chosen)
    return YesNoAssessment(verdict, 2 * p_yes - 1, positive, negative, hedge, lead, conflict, polarity, p_yes)


def verdict_evidence(
    query: Query,
    hits: Sequence[Hit],
    usable: Sequence[Candidate],
    relevance: RelevanceModel | None,
    embedder: Embedder,
) -> list[Evidence]:
    """The sentences a verdict rests on: usable candidates and the whole abstracts' findings, best first."""
    equivalence, safety = question_flags(query)
    terms = query_terms(query)
    pool: dict[tuple[str, int], tuple[str, str, float]] = {
        c.key: (c.text, c.label, c.relevance) for c in usable if c.part == "body"
    }
    extra = _whole_abstract_sentences(hits, pool)
    if extra:
        scores = _relevance_of(query, extra, relevance, embedder)
        for (key, text, label, _doc), p in zip(extra, scores, strict=True):
            pool[key] = (text, label, p)
    evidence = []
    for text, label, p in pool.values():
        pos, neg, hedge = signal(text, terms, equivalence, safety)
        evidence.append(Evidence(text, p, label, pos, NEGATIVE_WEIGHT * neg, hedge))
    return choose_evidence(evidence)


def _signed(text: str, terms: QueryTerms, equivalence: bool, safety: bool) -> float:
    pos, neg, _ = signal(text, terms, equivalence, safety)
    return pos - NEGATIVE_WEIGHT * neg


def _whole_abstract_sentences(
    hits: Sequence[Hit], seen: dict[tuple[str, int], tuple[str, str, float]]
) -> list[tuple[tuple[str, int], str, str, Document]]:
    """Results and conclusions sentences of the top three documents that no usable candidate holds."""
    out = []
    documents: list[Document] = []
    for hit in hits:
        if hit.document.id not in {d.id for d in documents}:
            documents.append(hit.document)
        if len(documents) == 3:
            break
    for doc in documents:
        at = 0
        for section in doc.sections:
            if section_kind(section.label) in ("results", "conclusions", "other"):
                for s, e in split_sentences(section.text):
                    key = (doc.id, at + s)
                    if key not in seen:
                        out.append((key, section.text[s:e], section.label, doc))
            at += len(section.text) + len(SECTION_SEPARATOR)
    return out[:24]  # a long full text must not cost a second of embedding


def _relevance_of(
    query: Query,
    extra: Sequence[tuple[tuple[str, int], str, str, Document]],
    model: RelevanceModel | None,
    embedder: Embedder,
) -> list[float]:
    if model is None:
        return [0.5] * len(extra)
    subject = subject_of(query)
    lexical = np.asarray(
        [
            lexical_features(
                query,
                subject,
                text,
                label=label,
                position=key[1] / max(1, len(doc.body)),
                animal=animal_only(doc),
            )
            for key, text, label, doc in extra
        ],
        dtype=np.float32,
    )
    return [float(p) for p in model.score_sentences(query, [e[1] for e in extra], lexical, embedder)]


def score_claims(
    article: Article,
    query: Query,
    documents: Mapping[str, Document],
    model: RelevanceModel,
    embedder: Embedder,
) -> Article:
    """``article`` with every quoted claim its synthesizer left unscored (a language model's) given
    the relevance model's score of the sentence it quotes, so the verifier's relevance threshold
    applies to every synthesizer alike.  Claims citing a title or an unknown record stay unscored."""
    todo: dict[tuple[str, int, int], tuple[str, Document, int]] = {}
    for claim in (*article.all_claims(), *article.removed_claims):
        if claim.relevance is not None or not claim.citations:
            continue
        cited = claim.citations[0]
        doc = documents.get(cited.document_id)
        if doc is not None and cited.part == "body" and cited.quote.strip():
            todo[(cited.document_id, cited.start, cited.end)] = (cited.quote, doc, cited.start)
    if not todo:
        return article
    subject = subject_of(query)
    lexical = np.asarray(
        [_features_at(query, subject, quote, doc, start) for quote, doc, start in todo.values()],
        dtype=np.float32,
    )
    scores = model.score_sentences(query, [quote for quote, _, _ in todo.values()], lexical, embedder)
    by_span = {key: float(p) for key, p in zip(todo, scores, strict=True)}

    def scored(claim: Claim) -> Claim:
        if claim.relevance is not None or not claim.citations:
            return claim
        c = claim.citations[0]
        p = by_span.get((c.document_id, c.start, c.end))
        return claim if p is None else replace(claim, relevance=p)

    return article.map_claims(scored)


def _candidate_features(query: Query, subject: Subject, c: Candidate, text: str | None = None) -> list[float]:
    """The lexical features of candidate ``c`` (its section, position, evidence level and species),
    read from ``text`` when given (the sentence under its title) rather than its own."""
    return lexical_features(
        query,
        subject,
        c.text if text is None else text,
        label=c.label,
        part=c.part,
        position=c.start / max(1, len(c.document.body)),
        evidence=c.evidence,
        animal=animal_only(c.document),
    )


def _features_at(query: Query, subject: Subject, text: str, doc: Document | None, start: int) -> list[float]:
    """The lexical features of ``text`` read as a body sentence at offset ``start`` of ``doc`` (its
    section, position, evidence level and species); neutral ones without a record."""
    if doc is None:
        return lexical_features(query, subject, text, part="body")
    return lexical_features(
        query,
        subject,
        text,
        label=_label_at(doc, start),
        part="body",
        position=start / max(1, len(doc.body)),
        evidence=document_weight(doc),
        animal=animal_only(doc),
    )


def _label_at(doc: Document, offset: int) -> str:
    """The label of the abstract section holding body offset ``offset``."""
    at = 0
    for section in doc.sections:
        end = at + len(section.text)
        if offset < end:
            return section.label
        at = end + len(SECTION_SEPARATOR)
    return ""


def prose_relevance(
    query: Query, documents: Mapping[str, Document], model: RelevanceModel, embedder: Embedder
) -> Callable[[str, Sequence[Claim]], float]:
    """A scorer of a composed sentence's relevance to ``query``: the model's probability for the
    sentence as if it stood where the first claim it rests on stands (that claim's record, section
    and position), so that it and its claims are scored alike."""
    subject = subject_of(query)

    def score(text: str, sources: Sequence[Claim]) -> float:
        cited = sources[0].citations[0] if sources and sources[0].citations else None
        doc = documents.get(cited.document_id) if cited is not None else None
        start = cited.start if cited is not None else 0
        vector = np.asarray([_features_at(query, subject, text, doc, start)], dtype=np.float32)
        return float(model.score_sentences(query, [text], vector, embedder)[0])

    return score
