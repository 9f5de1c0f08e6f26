"""Prose from verified claims: a language model rewrites an article's quoted claims, and nothing else.

The extractive synthesizer chooses the evidence and the verifier checks it; this stage
only changes how it reads.  Each part of the article (the bottom line, then each section
and cause category) is one request: its verified claims, numbered ``c1, c2, ...``, go
to the model, which answers with sentences that each cite the claim ids they rest on
(a JSON schema whose ``cites`` may only hold the part's own ids, so the model cannot
cite anything else).  Every sentence is then checked against the claims it cites
(:func:`curbside.answer.faithful.unfaithful`: numbers, names, negation, setting,
qualifiers, new words, meaning; and the learned relevance model, where given).  A list
article's composed summary bottom line is kept as built.  A sentence that fails is replaced by the quoted claims it cites, and the
article says so; a claim no sentence cites is kept as a quote, so nothing verified is
lost.  A composed sentence carries its claims' citations, quotes included, so a reader
can always open the exact words behind it.

A reply that is not the JSON asked for is answered with the problem once; a second bad
reply leaves that part quoted, with a warning.  Prompts are versioned files in
``synthesis/prompts/`` (``compose-*.v1.txt``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any, Final

from curbside.answer.backends.base import ChatBackend, ChatMessage, TokenCallback
from curbside.answer.faithful import unfaithful
from curbside.answer.sentences import SUMMARY_CATEGORY
from curbside.datafiles import load_data, rules_of
from curbside.errors import ModelError
from curbside.types import (
    COMPOSED_CATEGORY,
    COMPOSITION_FAILED,
    Article,
    ArticleSection,
    ArticleWarning,
    Claim,
)

if TYPE_CHECKING:
    from curbside.retrieval.embeddings import Embedder
    from curbside.retrieval.vocabulary import Vocabulary

__all__ = ["COMPOSED_CATEGORY", "COMPOSE_PROMPT_VERSION", "compose_article"]

COMPOSE_PROMPT_VERSION: Final = "v1"
_MAX_SENTENCE_CHARS: Final = 400
_READERS: Final[dict[str, str]] = load_data("llm_prompt_parts.json", "prompt parts", rules_of("readers"))[
    "readers"
]


@dataclass(frozen=True)
class _Part:
    key: str  # "bottom-line", or the section's key
    label: str  # what the model is told: "Bottom line", "Causes: Infections"
    task: str
    claims: tuple[Claim, ...]  # the claims the model may cite, and that the part shows
    most: int  # most sentences


@dataclass
class _Tally:
    composed: int = 0
    failed: list[str] = field(default_factory=list)  # "<part>: <why>" per sentence that failed a check
    unusable: list[str] = field(default_factory=list)  # parts whose replies could not be used
    late: list[str] = field(default_factory=list)  # parts not begun within the time budget
    completion_tokens: float = 0.0


@cache
def _prompt(name: str) -> Template:
    path = resources.files("curbside.answer").joinpath("prompts", f"{name}.{COMPOSE_PROMPT_VERSION}.txt")
    return Template(path.read_text(encoding="utf-8"))


def compose_article(
    article: Article,
    backend: ChatBackend,
    *,
    vocabulary: Vocabulary | None = None,
    embedder: Embedder | None = None,
    audience: str = "clinician",
    on_token: TokenCallback | None = None,
    retries: int = 1,
    asked: Sequence[str] = (),
    budget_s: float | None = None,
    relevance: Callable[[str, Sequence[Claim]], float] | None = None,
    min_relevance: float | None = None,
) -> Article:
    """``article`` with its bottom line and sections written as prose by ``backend`` from their
    verified claims; ``metadata["composition"]`` says what was composed, what failed and why.
    ``asked``: the question's concepts and their narrower terms (see :func:`unfaithful`).
    ``relevance`` (with ``min_relevance``, the learned relevance model's threshold): a sentence that
    the model scores below it, though a claim it rests on scores above, has drifted from the question
    and fails too.
    ``budget_s``: once composing has taken this long, the parts not yet begun stay quoted (a batch
    over a library keeps each article within its time, and a slow machine still answers)."""
    started = time.perf_counter()
    tally = _Tally()
    system = _prompt("compose-system").substitute(reader=_READERS.get(audience, _READERS["clinician"]))

    def run(part: _Part) -> tuple[Claim, ...]:
        if not part.claims:
            return ()
        if budget_s is not None and time.perf_counter() - started > budget_s:
            tally.late.append(part.label)
            return part.claims
        ids = {f"c{n}": c for n, c in enumerate(part.claims, 1)}
        if on_token is not None:
            on_token(f"\n[{part.label}] ")  # which part the streamed reply belongs to
        sentences = _ask(backend, system, article.question, part, ids, retries, on_token, tally)
        if sentences is None:
            tally.unusable.append(part.label)
            return part.claims
        framing = f"{article.question} {part.label}"
        checks = _Checks(vocabulary, embedder, asked, framing, relevance, min_relevance)
        return _assemble(part, ids, sentences, checks, tally)

    bottom = run(_bottom_part(article)) or article.bottom_line
    sections = tuple(_compose_section(s, run) for s in article.sections)
    warnings = list(article.warnings)
    if tally.failed:
        warnings.append(
            ArticleWarning(
                "composition",
                f"{len(tally.failed)} composed sentence{'s' if len(tally.failed) > 1 else ''} failed the checks "
                "against the claims they cite and "
                f"{'are' if len(tally.failed) > 1 else 'is'} shown as the quotes instead "
                f"({tally.failed[0]}{'; ...' if len(tally.failed) > 1 else ''}).",
            )
        )
    if tally.unusable:
        warnings.append(
            ArticleWarning(
                "composition",
                f"The language model's reply was unusable for {', '.join(tally.unusable)}: "
                "the verified quotes are shown there instead.",
            )
        )
    if tally.late:
        warnings.append(
            ArticleWarning(
                "composition",
                f"Composing stopped at its time budget ({budget_s:.0f} s): {', '.join(tally.late)} "
                "keep the verified quotes.",
            )
        )
    metadata = {
        **article.metadata,
        "composition": {
            "backend": f"{backend.name}/{backend.model}",
            "prompt_version": COMPOSE_PROMPT_VERSION,
            "composed_sentences": tally.composed,
            "failed_checks": tally.failed,
            "unusable_parts": tally.unusable,
            "over_budget_parts": tally.late,
            "completion_tokens": int(tally.completion_tokens),
            "seconds": round(time.perf_counter() - started, 2),
        },
    }
    return replace(
        article, bottom_line=bottom, sections=sections, warnings=tuple(warnings), metadata=metadata
    )


def _bottom_part(article: Article) -> _Part:
    """The bottom line, rewritten from its own quoted claims; a composed summary of the sections (a
    list article's "Reported causes of X include ...", already prose built from their claims) is
    kept as it is: asked to summarise claims from several records, the small model joined them into
    relations no record states ("agranulocytosis, a condition characterized by a monocytosis")."""
    own = tuple(c for c in article.bottom_line if c.category != SUMMARY_CATEGORY)
    quoted = own if len(own) == len(article.bottom_line) else ()
    return _Part(
        "bottom-line",
        "Bottom line (the answer at the top of the article)",
        "Write one to three sentences that answer the question directly, from these statements only. "
        "Cite the statements each sentence rests on.",
        quoted,
        max(1, min(3, len(quoted))),
    )


def _compose_section(section: ArticleSection, run: Any) -> ArticleSection:
    label = section.heading
    claims = run(
        _Part(
            section.key,
            label,
            _task(section),
            section.claims,
            max(1, len(section.claims)),
        )
    )
    subsections = tuple(
        replace(
            sub,
            claims=run(
                _Part(
                    sub.key,
                    f"{label}: {sub.heading}",
                    _task(sub),
                    sub.claims,
                    max(1, len(sub.claims)),
                )
            ),
        )
        for sub in section.subsections
    )
    return replace(section, claims=claims, subsections=subsections)


def _task(section: ArticleSection) -> str:
    if section.style == "paragraph":
        return "Write a short paragraph: one sentence per statement or per group of statements that agree."
    return "Write one short list item per statement, or one item for statements that report the same thing."


def _schema(ids: Sequence[str], most: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "minItems": 1,
                "maxItems": most,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string", "minLength": 10, "maxLength": _MAX_SENTENCE_CHARS},
                        "cites": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": len(ids),
                            "items": {"type": "string", "enum": list(ids)},
                        },
                    },
                    "required": ["text", "cites"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


def _ask(
    backend: ChatBackend,
    system: str,
    question: str,
    part: _Part,
    ids: dict[str, Claim],
    retries: int,
    on_token: TokenCallback | None,
    tally: _Tally,
) -> list[tuple[str, list[str]]] | None:
    """The part's sentences as (text, cited ids), or ``None`` after ``retries`` unusable replies."""
    statements = "\n".join(f"[{i}] {c.shown}" for i, c in ids.items())
    user = _prompt("compose-user").substitute(
        question=question, part=part.label, task=part.task, statements=statements
    )
    messages = [ChatMessage("system", system), ChatMessage("user", user)]
    schema = _schema(list(ids), part.most)
    for _ in range(retries + 1):
        problem: str | None
        sentences: list[tuple[str, list[str]]]
        try:
            reply = backend.chat(messages, schema=schema, max_tokens=120 * part.most + 60, on_token=on_token)
        except ModelError as exc:
            # The runtime refused what the model wrote (a reply its chat parser cannot read): as
            # unusable as bad JSON.  A server that cannot be reached is another error, and stops.
            reply, problem, sentences = "", f"the runtime refused the reply ({exc.message})", []
        else:
            problem, sentences = _parse(reply, ids, part.most)
        usage = getattr(backend, "last_usage", None) or {}  # None where a server reported none
        tally.completion_tokens += float(usage.get("completion_tokens", 0) or 0)
        if problem is None:
            return sentences
        if reply:  # a refused reply is simply asked for again
            messages += [
                ChatMessage("assistant", reply[:1500]),
                ChatMessage(
                    "user", f"That reply cannot be used: {problem}. Reply again with the JSON object only."
                ),
            ]
    return None


def _parse(reply: str, ids: dict[str, Claim], most: int) -> tuple[str | None, list[tuple[str, list[str]]]]:
    try:
        data = json.loads(reply)
    except json.JSONDecodeError as exc:
        return f"it is not JSON ({exc.msg} at character {exc.pos})", []
    items = data.get("sentences") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        return 'it has no "sentences" list', []
    out = []
    for item in items[:most]:
        text = item.get("text") if isinstance(item, dict) else None
        cites = item.get("cites") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > _MAX_SENTENCE_CHARS:
            return "a sentence has no text, or too long a text", []
        if not isinstance(cites, list) or not cites or any(c not in ids for c in cites):
            return f"a sentence cites ids other than {', '.join(ids)}", []
        out.append((" ".join(text.split()), list(dict.fromkeys(cites))))
    return None, out


@dataclass(frozen=True)
class _Checks:
    """What a composed sentence is checked with (see :func:`unfaithful`)."""

    vocabulary: Vocabulary | None
    embedder: Embedder | None
    asked: Sequence[str]
    framing: str
    relevance: Callable[[str, Sequence[Claim]], float] | None
    min_relevance: float | None

    def why_not(self, text: str, sources: Sequence[Claim]) -> str | None:
        why = unfaithful(
            text,
            sources,
            vocabulary=self.vocabulary,
            embedder=self.embedder,
            asked=self.asked,
            framing=self.framing,
        )
        if why is not None or self.relevance is None or self.min_relevance is None:
            return why
        best = max((c.relevance for c in sources if c.relevance is not None), default=None)
        if best is None or best < self.min_relevance:
            return None  # its claims were kept on other grounds: no higher bar for their rewording
        score = self.relevance(text, sources)
        if score < self.min_relevance:
            return f"it is less about the question than its claims (relevance {score:.2f} < {self.min_relevance:.2f})"
        return None


def _assemble(
    part: _Part,
    ids: dict[str, Claim],
    sentences: Sequence[tuple[str, Sequence[str]]],
    checks: _Checks,
    tally: _Tally,
) -> tuple[Claim, ...]:
    """The part's claims: each sentence that passes the checks, else the quotes it cites; then the
    part's claims no sentence showed, so nothing the verifier kept is lost."""
    out: list[Claim] = []
    shown: set[int] = set()  # the claims shown, as quotes or within a composed sentence
    for text, cites in sentences:
        sources = [ids[i] for i in cites]
        why = checks.why_not(text, sources)
        if why is None:
            out.append(_composed(text, sources, cites))
            shown.update(id(c) for c in sources)
            tally.composed += 1
            continue
        tally.failed.append(f"{part.label}: {why}")
        note = f"{COMPOSITION_FAILED} ({why})"
        for claim in sources:
            if id(claim) not in shown:
                out.append(replace(claim, note=f"{claim.note}; {note}" if claim.note else note))
                shown.add(id(claim))
    return (*out, *(c for c in part.claims if id(c) not in shown))


def _composed(text: str, sources: Sequence[Claim], cites: Sequence[str]) -> Claim:
    citations = tuple(dict.fromkeys(c for claim in sources for c in claim.citations))
    verdicts = {c.verdict for c in sources}
    relevance = [c.relevance for c in sources if c.relevance is not None]
    return Claim(
        text=text if text.endswith((".", "!", "?")) else text + ".",
        citations=citations,
        verdict="supported" if verdicts <= {"supported"} else "partial",
        support=min(c.support for c in sources),
        category=COMPOSED_CATEGORY,
        note=f"composed from {len(sources)} verified claim{'s' if len(sources) > 1 else ''} ({', '.join(cites)})",
        relevance=max(relevance) if relevance else None,
    )
