"""The default synthesizer: an article assembled from sentences of the retrieved passages.

No language model, no randomness: the same query and hits always give the same
article, in a few milliseconds.  Its one promise is that it never states what
no source says: every claim is a sentence (or the sentence without a leading
"In conclusion,") copied from a retrieved chunk, and its
:class:`~curbside.types.Citation` points at exactly that span of
:attr:`Document.body`, so ``claim.text == citation.quote``.  The exception
is a record without abstract: its title is cited (``citation.part ==
"title"``) and the claim says only that such a record exists --
``Reported in a case report titled "..."`` -- and only where the title names
a cause category or matches a section's cue; verdicts never rest on titles.

Steps:

1. :func:`~curbside.answer.sentences.candidate_sentences` scores every
   sentence of the hits for relevance, rank, evidence, section and quality;
   sentences below ``min_relevance`` or of poor quality (methods descriptions,
   aims, fragments, number dumps) are never quoted, nor are sentences of
   documents that do not cover the question
   (:func:`~curbside.answer.sentences.on_topic_documents`).
2. The bottom line takes the 1-3 best sentences, preferring sentences that
   answer the question type (a named cause, a treatment), that the article
   files under its core sections ("Causes", "Definition", "First-line
   options"), whose subject is the question's condition ("Agranulocytosis is
   an ..."; not an item in a list of events, not one patient's story), human
   evidence, strong evidence (guidelines, meta-analyses, reviews) and distinct
   documents.  A causes article with no general statement of causes leads
   instead with a composed summary per cause category -- "Medications and
   toxins (mianserin, aprindine) are reported as causes in 2 of the retrieved
   sources (2 case reports)." -- citing exactly the claims filed under it and
   naming only causes those claims' own words name; it is marked
   :data:`~curbside.answer.sentences.SUMMARY_CATEGORY`, and the verifier
   keeps it only while every claim it summarises survives.
3. Sentences go to the sections planned for the question type
   (:data:`SECTION_PLANS`) by cue patterns; causes are grouped by
   :data:`CAUSE_CATEGORIES` (:mod:`curbside.answer.causes`), using the
   sentence's own words first and the cited document's MeSH headings and
   qualifiers second.  What the condition *causes* goes to "Clinical
   significance", null findings are not causes, and one document fills at most
   two places of a section.  Near-duplicates (word-set Jaccard above 0.6, or
   0.42 within one abstract) are dropped across all sections.
4. Yes/no questions -- and comparisons asked as one -- get a verdict from
   :func:`~curbside.answer.yesno.assess_yesno` and sections of evidence for
   and against it.

When nothing relevant is found the article has no claims and an
"insufficient-evidence" warning: this synthesizer never fills a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Final, Literal

from curbside.answer.base import drop_empty_sections, subject_in_sentence, title_for
from curbside.answer.bottomline import (
    cause_categories_found,
    compose_harms,
    compose_members,
    coverage_warning,
    names_no_harm,
    spare_sections,
    without_repeats,
)
from curbside.answer.causes import (
    CAUSE_CATEGORIES,
    OTHER_CATEGORY,
    OVERVIEW_CATEGORIES,
    CauseCategory,
    category_counts,
    cause_category,
    document_categories,
)
from curbside.answer.context import POSITIVE_PLACES, needs_antecedent, qualified, subject_namer
from curbside.answer.placement import (
    about_the_paper,
    about_treatment,
    anecdote,
    animal_sentence,
    breadth,
    cause_summary,
    cause_tier,
    contents_list,
    denies_link,
    filed_sections,
    general_statement,
    place,
    placed_keys,
    polarities,
    states_consequence,
    subject_as_background,
    subject_is_condition,
    title_cause,
)
from curbside.answer.plans import (
    INTENT_LEADS,
    INTENT_PLANS,
    LEAD_SECTIONS,
    SECTION_PLANS,
    TOPIC_CUES,
    YESNO_SECTIONS,
    SectionSpec,
)
from curbside.answer.scoring import in_title_context, learned_assessment, learned_candidates
from curbside.answer.sentences import (
    Candidate,
    QueryTerms,
    candidate_sentences,
    jaccard,
    on_topic_documents,
    query_terms,
    title_context,
)
from curbside.answer.yesno import YesNoAssessment, assess_yesno
from curbside.config import Settings
from curbside.errors import InputError, ModelError
from curbside.ingestion.chunking import is_title_chunk
from curbside.models.relevance import RelevanceModel, load_relevance, section_kind
from curbside.models.roles import LIST_INTENTS, load_roles
from curbside.models.verdicts import VerdictModel, confidence_label, load_verdict
from curbside.retrieval.embeddings import Embedder, get_embedder
from curbside.retrieval.facets import narrower_questions
from curbside.retrieval.intent import (
    Intent,
    NamedAnswer,
    asks_expansion,
    asks_for_kinds,
    asks_for_members,
    intent_of,
    states_answer,
)
from curbside.retrieval.questions import asks_yes_no
from curbside.retrieval.subject import subject_of
from curbside.retrieval.vocabulary import Vocabulary
from curbside.types import Article, ArticleSection, ArticleWarning, Claim, Hit, Query

__all__ = [
    "CAUSE_CATEGORIES",
    "INTENT_PLANS",
    "SECTION_PLANS",
    "CauseCategory",
    "ExtractiveSynthesizer",
    "SectionSpec",
    "cause_category",
]

# --------------------------------------------------------------------------------------------------
# The synthesizer.

#: Sentences whose quality factor is below this (methods text, fragments, number dumps) are never quoted.
MIN_QUALITY: Final = 0.5
#: Bottom-line sentences must be free of every quality penalty.
_BOTTOM_LINE_QUALITY: Final = 0.9
#: Within one document the duplicate threshold is this share of ``duplicate_jaccard``: abstracts restate
#: their results in the conclusion with other words ("There were novel cases of X" / "We found two cases of X").
_SAME_DOCUMENT_FACTOR: Final = 0.7
#: A bottom-line sentence ranks at most this many tiers below the lead.
_BOTTOM_LINE_TIER_GAP: Final = 2
#: Learned relevance a bottom line's second or third quoted sentence needs (the lead needs the usual
#: threshold).  Chosen on BioASQ 9B between none and 0.9: with it ROUGE-2 of the bottom line rose from
#: 0.181 to 0.183, gold documents cited from 0.845 to 0.847, claim relevance unchanged.
_FURTHER_LEAD_RELEVANCE: Final = 0.9
#: Most claims one document contributes to one section or cause category: a list of causes should
#: not be one abstract retold.
_PER_DOCUMENT: Final = 2
#: Sections that list what a list question asks for; the answer-role model must agree to file there.
#: Special populations of a list article are its causes or harms in particular patients ("in
#: children, ..."), so the same gate applies: a screening programme for them is not one.
_ANSWER_SECTIONS: Final = frozenset({"causes", "adverse-effects", "complications", "special-populations"})
#: Sections of a causes article that must hold causes, not consequences.
#: Intents whose answers about a narrower descriptor of the subject answer the question too.
_NARROWER_INTENTS: Final = frozenset({"causes", "risk_factors", "complications"})
_CAUSE_SIDE: Final = frozenset({"causes", "special-populations"})
#: Intents whose findings a paper about the subject may report without naming it ("neutropenia
#: occurred in two patients"): harms.  Causes are not among them: in the papers about a condition
#: every sentence names something, and the title then made epidemiology read as causes.
_HARM_INTENTS: Final = frozenset({"adverse_effects", "complications"})
# Sentences naming members of the class a list question asks for, beyond which the others are no
# answer (one could be a stray pattern match).
_LISTING_ENOUGH: Final = 2
#: Human claims after which an answer section takes no animal evidence.
_HUMAN_ENOUGH: Final = 2


def _off_topic_warning(query: Query, found: int) -> ArticleWarning:
    """What an article whose relevant sentences all miss its topic could not answer."""
    title = title_for(query)
    asked = title[:1].lower() + title[1:] if title[1:2].islower() else title
    return ArticleWarning(
        "insufficient-evidence",
        f"Insufficient evidence: none of the {found} relevant sentences retrieved addresses the {asked}; "
        "the sections list what the sources do say.",
    )


def _reading_order(c: Candidate) -> tuple[bool, float, float, int]:
    """How a section lists what it quotes: human before animal evidence, then by relevance (in steps
    of 0.1, so that near-equals count as equal), then by evidence level (guideline, systematic review,
    trial, cohort, case report), then the most recent first."""
    return (animal_sentence(c), -round(c.relevance, 1), -c.evidence, -(c.document.year or 0))


class ExtractiveSynthesizer:
    """Writes a draft article by quoting the best sentences of the retrieved passages (no LLM).

    ``max_claims_per_section`` caps every section and causes subsection;
    ``bottom_line_claims`` caps the bottom line; a sentence is usable only when
    it shares a term with the query and its relevance (0.75 x its own query
    overlap + 0.25 x its document's) is at least ``min_relevance``;
    ``duplicate_jaccard`` is the word-set overlap above which a sentence
    repeats one already used; only documents whose title, text and MeSH
    together cover at least ``min_coverage`` of the query are quoted at all.
    """

    name = "extractive"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        max_claims_per_section: int = 6,
        bottom_line_claims: int = 3,
        min_relevance: float = 0.2,
        duplicate_jaccard: float = 0.6,
        min_coverage: float = 0.5,
    ) -> None:
        if max_claims_per_section < 1:
            raise InputError(f"max_claims_per_section must be at least 1, got {max_claims_per_section}")
        if not 1 <= bottom_line_claims <= 3:
            raise InputError(f"bottom_line_claims must be between 1 and 3, got {bottom_line_claims}")
        if not 0.0 < min_relevance <= 1.0:
            raise InputError(f"min_relevance must be in (0, 1], got {min_relevance}")
        if not 0.0 <= min_coverage <= 1.0:
            raise InputError(f"min_coverage must be in [0, 1], got {min_coverage}")
        if not 0.0 < duplicate_jaccard <= 1.0:
            raise InputError(f"duplicate_jaccard must be in (0, 1], got {duplicate_jaccard}")
        self.settings = settings
        self.max_claims_per_section = max_claims_per_section
        self.bottom_line_claims = bottom_line_claims
        self.min_relevance = min_relevance
        self.duplicate_jaccard = duplicate_jaccard
        self.min_coverage = min_coverage
        # The learned relevance model (curbside.models.relevance) when the settings name one and it loads;
        # its threshold, chosen on held-out expert questions, replaces the keyword floor.
        self.relevance = load_relevance(settings) if settings is not None else None
        self.verdict = load_verdict(settings) if settings is not None else None
        self.roles = load_roles(settings) if settings is not None else None
        if self.relevance is not None:
            self.min_relevance = self.relevance.sentence_threshold

    def __repr__(self) -> str:
        return f"ExtractiveSynthesizer(max_claims_per_section={self.max_claims_per_section})"

    def synthesize(self, query: Query, hits: Sequence[Hit]) -> Article:
        """A draft article: every claim quotes a sentence of ``hits`` and cites exactly its span."""
        yesno = query.qtype == "yesno"
        verdict_asked = yesno or (query.qtype == "comparison" and asks_yes_no(query.text))
        if verdict_asked:
            # A title announces a topic; it is not a finding to weigh for or against a verdict, and
            # a title-only hit must not push an abstract out of the verdict's top hits either.
            hits = [h for h in hits if not is_title_chunk(h.chunk)]
        candidates = candidate_sentences(query, hits)
        model = self._relevance_model()
        intent = intent_of(query.text)
        lifted: dict[tuple[str, int], str] = {}
        if model is not None:
            # What causes a narrower condition (agranulocytosis) causes the one asked about (leukopenia).
            narrower = narrower_questions(query) if intent in _NARROWER_INTENTS else []
            candidates = learned_candidates(query, candidates, model[0], model[1], narrower)
            if intent in _HARM_INTENTS:
                # A finding of a paper about the subject that does not repeat its name ("neutropenia
                # occurred in two patients" under "Clozapine in tardive dyskinesia").
                candidates, raised = in_title_context(
                    query, candidates, model[0], model[1], self.min_relevance
                )
                name = subject_in_sentence(query)  # "clozapine", "HIV", "meningococcal infection"
                lifted = {c.key: title_context(c.document, name) for c in candidates if c.key in raised}
            on_topic = {h.document.id for h in hits}  # the model weighs the subject itself
        else:
            on_topic = on_topic_documents(query, hits, min_coverage=self.min_coverage)
        usable = [c for c in candidates if c.document.id in on_topic and self._usable(c)]
        if verdict_asked and model is not None:
            # A yes/no question is answered by the findings of the abstracts retrieved for it: a
            # results or conclusions sentence naming what the question asks is evidence even when
            # the relevance model, trained on snippets that favour titles and conclusions, scores it
            # low (PubMedQA's abstracts come without both).
            subject = subject_of(query)
            taken = {c.key for c in usable}
            usable += [
                c
                for c in candidates
                if c.key not in taken
                and c.part == "body"
                and c.quality >= MIN_QUALITY
                and section_kind(c.label) in ("results", "conclusions", "other")
                and subject.addressed_by(c.text)
            ]
        if not verdict_asked and (query.qtype == "causes" or intent in LIST_INTENTS):
            # A sentence the verifier would remove for not naming the question's subject (as the
            # reader sees it, its context included) is drafted nowhere in a list article: it would
            # leave its section, or the summary resting on it, short of a claim. (A title-only claim
            # names its record only; elsewhere the verifier removes such a claim visibly.)
            names = subject_namer(query)
            usable = [c for c in usable if c.part == "title" or names(f"{lifted.get(c.key, '')} {c.text}")]
        metadata: dict[str, object] = {
            "synthesizer": self.name,
            "relevance_model": model[0].name if model is not None else "none (keyword scoring)",
            "hits": len(hits),
            "sentences": len(candidates),
            "usable_sentences": len(usable),
            "usable_titles": sum(1 for c in usable if c.part == "title"),
        }
        if not usable:
            why = (
                "no passage was retrieved for this question"
                if not hits
                else f"none of the {len(candidates)} sentences retrieved addresses the question"
            )
            return Article(
                question=query.text,
                qtype=query.qtype,
                title=title_for(query),
                bottom_line=(),
                sections=(),
                warnings=(ArticleWarning("insufficient-evidence", f"Insufficient evidence: {why}."),),
                verdict="uncertain" if yesno else None,
                metadata=metadata,
            )
        warnings: list[ArticleWarning] = []
        terms = query_terms(query)
        # "Is A better than B?" keeps its comparison sections but still gets the verdict it asks for.
        if verdict_asked:
            verdict_model = self._verdict_model()
            if verdict_model is not None:
                assessment = learned_assessment(
                    query, hits, usable, verdict_model[0], model[0] if model else None, verdict_model[1]
                )
            else:
                assessment = assess_yesno(query, hits, candidates=candidates)
            polarity = polarities(query, usable, assessment)
            bottom_line = self._bottom_line(usable, assessment, polarity)
            if yesno:
                sections = self._yesno_sections(query, usable, assessment, polarity)
            else:
                sections = self._planned_sections(SECTION_PLANS[query.qtype], usable, terms)
            metadata["verdict_basis"] = {
                "balance": round(assessment.balance, 3),
                "positive": round(assessment.positive, 3),
                "negative": round(assessment.negative, 3),
                "hedge": round(assessment.hedge, 3),
                "model": verdict_model[0].name if verdict_model is not None else "none (cue-word rules)",
            }
            if assessment.probability is not None:
                metadata["verdict_confidence"] = {
                    "p_yes": round(assessment.probability, 3),
                    "label": confidence_label(assessment.probability),
                }
            if assessment.conflict:
                warnings.append(
                    ArticleWarning(
                        "conflicting-evidence",
                        "Conflicting evidence: among the top sources some report a positive finding and "
                        "others a null or negative one; read 'Evidence for' and 'Evidence against'.",
                    )
                )
            verdict = assessment.verdict
        else:
            metadata["intent"] = intent
            plan = INTENT_PLANS.get(intent, SECTION_PLANS[query.qtype])
            forms = subject_of(query).main_forms
            # A question answered by a name: what an abbreviation stands for, or the members of a class.
            named: NamedAnswer | None = None
            if intent == "definition" and asks_expansion(query.text):
                named = "expansion"
            elif intent == "factoid_list" and asks_for_members(query.text, forms):
                named = "members"
            not_answers = self._not_answers(
                query, intent, usable, model[1] if model is not None else None, named, forms
            )
            metadata["not_answers"] = len(not_answers)
            answer_sections: Collection[str] = _ANSWER_SECTIONS
            if named == "expansion":
                answer_sections = {spec.key for spec in plan}  # what it stands for is the whole answer
            elif named == "members":
                answer_sections = _ANSWER_SECTIONS | {"key-findings"}  # the general plan's list
            # A list of names answers "Which ...?" or "What are the types of ...?" (a review's headings).
            lists_asked = intent == "factoid_list" or asks_for_kinds(query.text)
            sections = self._planned_sections(
                plan, usable, terms, not_answers, lifted, answer_sections, lists_asked=lists_asked
            )
            placed = placed_keys(sections, ("causes", "definition"))
            filed = filed_sections(sections)
            lead_weights, topic = INTENT_LEADS.get(
                intent, (LEAD_SECTIONS.get(query.qtype, {}), TOPIC_CUES.get(query.qtype))
            )

            def tier(c: Candidate) -> int:
                if c.key in not_answers:
                    return -1  # the answer-role model: names no cause or harm of the subject
                if not lists_asked and contents_list(c):
                    return -1  # a review's headings: no finding
                # Sentences the article files under its core sections ("First-line options",
                # "Definition") and whose subject is the question's condition lead.
                core = lead_weights.get(filed.get((c.document.id, c.start, c.part), ""), 0)
                subject = subject_is_condition(c, terms)
                if query.qtype == "causes":
                    if denies_link(c.text):
                        return -1
                    if states_consequence(c, terms):
                        return 0
                    general = 2 * general_statement(c, placed, terms)
                    return cause_tier(c) + general + breadth(c) + subject - anecdote(c)
                # The intent's answer detector (data/question_intents.json, "answers"): a sentence
                # that says what the subject is answers "What is X?" before any that merely names X.
                answers = 2 * states_answer(intent, forms, c.text)
                if topic is None:
                    return core + subject + answers - anecdote(c)
                # "ITP is a rare autoimmune disease" says what ITP is, not how it is treated: only
                # a sentence on the question's topic may lead.
                if not topic.search(c.text):
                    return -1
                return 1 + core + subject - anecdote(c)

            bottom_line = self._bottom_line(usable, None, {}, tier)
            name = subject_in_sentence(query)
            if not bottom_line and topic is not None and query.qtype != "causes":
                warnings.append(_off_topic_warning(query, len(usable)))
            list_intent: Intent | Literal["members"] = "causes" if query.qtype == "causes" else intent
            # A list question's bottom line names what the sections found, citing them (composed).
            if list_intent == "causes":
                # The composed summary leads when it names two or more categories; a source's general
                # statement ("Leukopenia is most often caused by drugs ... and by viral infections")
                # leads where the sections support fewer, and then its list does not repeat it.
                summary = cause_summary(sections, usable, name, terms)
                general = any(general_statement(c, placed, terms) for c in usable)
                if summary and (len(cause_categories_found(sections)) >= 2 or not general):
                    bottom_line = summary
                else:
                    # Only a sentence the article files as a cause (or a definition) answers a causes
                    # question; a consequence is no bottom line (the coverage warning says what is missing).
                    as_cause = tuple(
                        c
                        for c in bottom_line[:1]
                        if (c.citations[0].document_id, c.citations[0].start, c.citations[0].part) in placed
                    )
                    # With nothing filed anywhere, the best relevant sentence still answers what it can.
                    empty = not any(s.all_claims() for s in sections)
                    bottom_line = as_cause or (bottom_line[:1] if empty else ())
                    sections = without_repeats(bottom_line, sections)
            elif list_intent in ("adverse_effects", "complications"):
                documents = {c.document.id: c.document for c in usable}
                asked = frozenset(c.preferred.lower() for c in query.concepts)
                composed = compose_harms(list_intent, name, sections, documents, Vocabulary.default(), asked)
                if composed is not None:
                    bottom_line = (composed,)
                else:
                    bottom_line = bottom_line[:1]  # one quoted harm leads; its list does not repeat it
                    sections = without_repeats(bottom_line, sections)
            elif named == "members":
                asked = frozenset(c.preferred.lower() for c in query.concepts)
                members = compose_members(name, sections, forms, Vocabulary.default(), asked)
                if members is not None:
                    bottom_line, list_intent = (members,), "members"  # its claims stay in the list
            if list_intent not in ("causes", "adverse_effects", "complications", "members"):
                # The lead answers in its best one to three sentences and the sections carry the
                # rest, each quote once (no verbatim repeats). A list article's bottom line is
                # composed, or one general statement that its list keeps.
                bottom_line = spare_sections(bottom_line, sections)
                sections = without_repeats(bottom_line, sections)
            # The verifier may remove claims: refresh_coverage says it again from what is left.
            metadata["coverage"] = {"intent": list_intent, "subject": name}
            coverage = coverage_warning(list_intent, name, sections)
            if coverage is not None:
                warnings.append(coverage)
            verdict = None
        return Article(
            question=query.text,
            qtype=query.qtype,
            title=title_for(query),
            bottom_line=bottom_line,
            sections=drop_empty_sections(sections),
            warnings=tuple(warnings),
            verdict=verdict,
            metadata=metadata,
        )

    # -- parts ------------------------------------------------------------------------------------

    def _verdict_model(self) -> tuple[VerdictModel, Embedder] | None:
        """The learned verdict model with its embedder; ``None`` keeps the cue-word rules."""
        if self.verdict is None or self.settings is None:
            return None
        try:
            embedder = get_embedder(self.settings.embedder, self.settings)
        except ModelError:
            return None
        return (self.verdict, embedder) if self.verdict.embedder == embedder.name else None

    def _relevance_model(self) -> tuple[RelevanceModel, Embedder] | None:
        """The model and the embedder its sentence head needs; ``None`` falls back to keywords."""
        if self.relevance is None or self.settings is None:
            return None
        try:
            embedder = get_embedder(self.settings.embedder, self.settings)
        except ModelError:
            return None  # no embedder installed: keyword scoring, as metadata["relevance_model"] says
        # The sentence head reads vectors of the embedder it was trained with, and no other.
        return (self.relevance, embedder) if self.relevance.embedder == embedder.name else None

    def _not_answers(
        self,
        query: Query,
        intent: Intent,
        usable: Sequence[Candidate],
        embedder: Embedder | None,
        named: NamedAnswer | None = None,
        forms: frozenset[str] = frozenset(),
    ) -> set[tuple[str, int]]:
        """Keys of the sentences that state no cause or harm of the subject: for a harms article, those
        naming nothing but the subject and drugs or vaccines (:func:`names_no_harm`); for a question
        ``named`` answers by a name (:func:`states_answer`), those not stating it where one does (for
        "What does X stand for?", spelling X out) or, for the members of a class, where at least
        :data:`_LISTING_ENOUGH` do; for any list
        intent, those the answer-role model (curbside.models.roles) rejects, where the model and the
        relevance model's ``embedder`` (whose vectors it reads) are there."""
        out: set[tuple[str, int]] = set()
        if named is not None:
            # "What does tsDMARD stand for?" is answered by a sentence spelling it out, "List the
            # essential amino acids" by sentences naming members beside the class (subject spelled any
            # of ``forms``). Where the sources do, a sentence that only uses the abbreviation
            # ("first-line bDMARD/tsDMARD") or names no member (a diet of essential amino acids in
            # kidney failure) answers nothing.
            answering = {c.key for c in usable if states_answer(named, forms, c.text)}
            enough = _LISTING_ENOUGH if named == "members" else 1
            return {c.key for c in usable} - answering if len(answering) >= enough else out
        if intent in _HARM_INTENTS:
            # The answer detector of a harms article: a sentence that names nothing besides the
            # subject but drugs or vaccines ("one case among 520 contacts vaccinated") names no harm.
            asked = frozenset(c.preferred.lower() for c in query.concepts)
            vocabulary = Vocabulary.default()
            out = {c.key for c in usable if names_no_harm(c.text, vocabulary, asked)}
        if self.roles is None or embedder is None or intent not in LIST_INTENTS or not usable:
            return out
        if self.roles.embedder != embedder.name:
            return out
        p = self.roles.answers(
            query, intent, [c.text for c in usable], [c.part == "title" for c in usable], embedder
        )
        return out | {c.key for c, pa in zip(usable, p, strict=True) if pa <= self.roles.threshold}

    def _usable(self, c: Candidate) -> bool:
        """Relevant, of good quality, and itself about the question.

        Its document's topic alone does not count, or an abstract's background
        sentence ("Clozapine is the most effective antipsychotic") would be
        quoted in an article about leukopenia.
        """
        return c.own > 0 and c.relevance >= self.min_relevance and c.quality >= MIN_QUALITY

    def _duplicate(self, c: Candidate, used: Sequence[Candidate]) -> bool:
        """Repeats a used sentence; within one abstract a looser match counts (results restated)."""
        return any(
            jaccard(c.words, u.words)
            > (
                self.duplicate_jaccard * _SAME_DOCUMENT_FACTOR
                if c.document.id == u.document.id
                else self.duplicate_jaccard
            )
            for u in used
        )

    def _bottom_line(
        self,
        usable: Sequence[Candidate],
        assessment: YesNoAssessment | None,
        polarity: dict[tuple[str, int], float],
        tier: Callable[[Candidate], int] | None = None,
    ) -> tuple[Claim, ...]:
        """The best 1-3 sentences, strong evidence and distinct documents first; a verdict's lead first.

        For a yes or no verdict, sentences that contradict it are left out and
        sentences that state it come before neutral ones.  ``tier`` ranks
        sentences by how directly they answer the question type before any
        score (a causes article leads with sentences that name a cause).  The bottom line may
        repeat a sentence that also appears in a section, as a reference
        page's summary restates its body.
        """
        pool = [c for c in usable if c.own >= self.min_relevance and c.quality >= _BOTTOM_LINE_QUALITY]
        if any(c.part == "body" for c in pool):
            # A summary states findings; a title only says a record exists, so it leads only alone.
            pool = [c for c in pool if c.part == "body"]
        chosen: list[Candidate] = []
        sign = 0
        if assessment is not None:
            lead = assessment.lead
            if lead is not None and any(c.key == lead.key for c in usable):
                chosen.append(lead)
            sign = {"yes": 1, "no": -1, "uncertain": 0}[assessment.verdict]
            if sign:
                pool = [c for c in pool if polarity.get(c.key, 0.0) * sign >= 0]
        if tier is not None:
            pool = [c for c in pool if tier(c) >= 0]  # a negative tier does not answer the question
        ranked = sorted(
            pool,
            key=lambda c: (
                -(polarity.get(c.key, 0.0) * sign > 0),
                animal_sentence(c),  # a clinical summary leads with human evidence
                -(tier(c) if tier is not None else 0),
                -c.score * (0.5 + c.evidence),
                c.document.id,
                c.start,
            ),
        )
        if tier is not None and ranked and assessment is None:
            # A summary is its best sentences: one much weaker than the lead ("A case of X is
            # described") adds words, not answer.
            floor = tier(ranked[0]) - _BOTTOM_LINE_TIER_GAP
            ranked = [c for c in ranked if tier(c) >= floor]
        for distinct_documents in (True, False):
            for c in ranked:
                if len(chosen) >= self.bottom_line_claims:
                    break
                if any(c.key == u.key for u in chosen) or self._duplicate(c, chosen):
                    continue
                if distinct_documents and any(c.document.id == u.document.id for u in chosen):
                    continue
                if chosen and assessment is None and c.relevance < _FURTHER_LEAD_RELEVANCE:
                    continue  # a second or third lead sentence must be as plainly on the question
                chosen.append(c)
        return tuple(c.claim() for c in chosen)

    def _planned_sections(
        self,
        plan: Sequence[SectionSpec],
        usable: Sequence[Candidate],
        terms: QueryTerms,
        not_answers: Collection[tuple[str, int]] = (),
        lifted: Mapping[tuple[str, int], str] | None = None,
        answer_sections: Collection[str] = _ANSWER_SECTIONS,
        lists_asked: bool = False,
    ) -> list[ArticleSection]:
        """Sentences into the plan's sections; causes under categories; consequences to significance.

        ``lifted``: sentences relevant only under their document's title (:func:`in_title_context`),
        with the context a reader sees before them ("In a 1978 research article on clozapine"); they
        may fill a list's answer sections and no other.  In an answer section animal evidence
        comes after human evidence, and only while the section has fewer than
        :data:`_HUMAN_ENOUGH` human claims: a clinical list does not pad itself with mice.
        ``answer_sections`` drop the sentences in ``not_answers``; a list of what a paper covers
        (:func:`~curbside.answer.placement.contents_list`) is quoted only where ``lists_asked``.
        """
        significance = next((s for s in plan if s.key == "significance"), None)
        causes_plan = any(s.key == "causes" for s in plan)
        lifted = lifted or {}
        human: dict[str, int] = {}
        used: list[Candidate] = []
        buckets: dict[str, list[Candidate]] = {spec.key: [] for spec in plan}
        overview: list[Candidate] = []
        by_category: dict[str, list[Candidate]] = {}
        mesh_scores: dict[str, dict[str, float]] = {}
        for c in sorted(usable, key=animal_sentence):  # human evidence first; stable
            spec = place(c, plan, terms)
            if c.part == "title" and (spec is None or spec.cue is None):
                spec = title_cause(c, plan)
            if spec is None or self._duplicate(c, used) or about_the_paper(c):
                continue  # (what a paper covers is no finding to list)
            if not lists_asked and contents_list(c):
                continue  # a review's headings answer "What are the types of X?" at most
            if spec.key in _CAUSE_SIDE and significance is not None and states_consequence(c, terms):
                spec = significance
            if spec is significance and animal_sentence(c):
                continue  # the clinical significance of a condition is what it does to people
            if spec.key in (*_CAUSE_SIDE, "significance") and subject_as_background(c, terms):
                continue  # the condition as what a patient has or had: the sentence is about something else
            if causes_plan and spec.key in (*_CAUSE_SIDE, "significance") and about_treatment(c):
                continue  # how the condition is treated: no cause, and no consequence of it
            if spec.key == "causes" and denies_link(c.text):
                continue  # "X was not associated with leukopenia" lists no cause
            if spec.key in answer_sections and c.key in not_answers:
                continue  # cue words of a cause or harm, but not one (a treatment, a null finding)
            if c.key in lifted and spec.key not in _ANSWER_SECTIONS:
                continue
            if (
                spec.key in _ANSWER_SECTIONS
                and animal_sentence(c)
                and human.get(spec.key, 0) >= _HUMAN_ENOUGH
            ):
                continue
            # What the verifier would remove in context makes room here for the next sentence: a
            # dangling "It ...", or a null or provisional finding where a positive one stands.
            if needs_antecedent(c.text) or (
                (spec.key in POSITIVE_PLACES or spec.key in _CAUSE_SIDE) and qualified(c.text)
            ):
                continue
            if c.part == "title" and spec.cue is None:
                continue  # a title goes only where it names what the section is about
            if spec.key == "causes" and c.part == "title" and title_cause(c, plan) is None:
                continue  # a title that links the condition to nothing ("Diagnostic status of ...")
            if spec.key == "causes":
                counts = category_counts(c.text)
                if sum(1 for n in counts.values() if n) >= OVERVIEW_CATEGORIES:
                    if c.part == "title":
                        continue
                    target = overview
                else:
                    if c.document.id not in mesh_scores:
                        mesh_scores[c.document.id] = document_categories(c.document)
                    category = cause_category(c.text, doc_scores=mesh_scores[c.document.id])
                    if c.part == "title" and category is OTHER_CATEGORY:
                        continue  # "Leukopenia in the elderly" names no cause
                    target = by_category.setdefault(category.key, [])
            else:
                target = buckets[spec.key]
            same_document = sum(1 for u in target if u.document.id == c.document.id)
            if len(target) < self.max_claims_per_section and same_document < _PER_DOCUMENT:
                target.append(c)
                used.append(c)
                if not animal_sentence(c):
                    human[spec.key] = human.get(spec.key, 0) + 1
        for chosen in (*buckets.values(), overview, *by_category.values()):
            chosen.sort(key=_reading_order)
        sections = []

        def claim(c: Candidate, category: str = "") -> Claim:
            made = c.claim(category)
            return replace(made, context=lifted[c.key]) if c.key in lifted else made

        for spec in plan:
            claims = tuple(claim(c) for c in buckets[spec.key])
            subsections: tuple[ArticleSection, ...] = ()
            if spec.key == "causes":
                claims = tuple(claim(c) for c in overview)
                subsections = tuple(
                    ArticleSection(
                        key=f"causes-{cat.key}",
                        heading=cat.label,
                        claims=tuple(claim(c, cat.label) for c in by_category.get(cat.key, ())),
                    )
                    for cat in CAUSE_CATEGORIES
                )
            sections.append(
                ArticleSection(spec.key, spec.heading, claims, spec.style, subsections, spec.intro)
            )
        return sections

    def _yesno_sections(
        self,
        query: Query,
        usable: Sequence[Candidate],
        assessment: YesNoAssessment,
        polarity: dict[tuple[str, int], float],
    ) -> list[ArticleSection]:
        """Evidence for, against and neither; the side that agrees with the verdict comes first."""
        used: list[Candidate] = []
        buckets: dict[str, list[Candidate]] = {key: [] for key in YESNO_SECTIONS}
        subject = subject_of(query)
        for c in usable:
            signed = polarity[c.key]
            key = "evidence-for" if signed > 0 else "evidence-against" if signed < 0 else "key-findings"
            if key != "key-findings" and not subject.mentions_main(c.text):
                continue  # evidence for or against must be about the question's subject
            if len(buckets[key]) < self.max_claims_per_section and not self._duplicate(c, used):
                buckets[key].append(c)
                used.append(c)
        order = ["evidence-for", "evidence-against", "key-findings"]
        if assessment.verdict == "no":
            order[:2] = order[1::-1]
        return [
            ArticleSection(
                key,
                YESNO_SECTIONS[key][0],
                tuple(c.claim() for c in buckets[key]),
                intro=YESNO_SECTIONS[key][1],
            )
            for key in order
        ]
