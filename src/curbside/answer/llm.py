"""The ``llm`` synthesizer: a language model writes the claims, curbside checks every citation.

How one answer is made:

1. The evidence becomes numbered passages, one per retrieved chunk, each
   split into sentences with ids ``1.1, 1.2, 2.1 ...``.  A sentence id maps
   back to an exact span of :attr:`Document.body`, so a claim can only ever
   cite text that exists.
2. The model gets a system prompt (rules, including that passages are
   untrusted data) and a user prompt holding the question, the sections
   wanted for this question type and the passages between ``<passages>``
   delimiters.  Prompts are versioned files in ``synthesis/prompts/``.
3. The reply must be JSON matching a schema built from pydantic models (the
   schema is also sent to the backend for constrained decoding).  A reply
   that is not JSON, breaks the schema or cites an id that does not exist is
   answered with the exact problem and the model tries again, up to
   ``retries`` times; then :class:`~curbside.errors.ModelError`.  Replies are
   never repaired and bad citations never silently dropped: a draft either
   validates whole or is refused.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from curbside.answer.backends.base import ChatBackend, ChatMessage, TokenCallback
from curbside.answer.base import drop_empty_sections, title_for
from curbside.answer.causes import CAUSE_CATEGORIES
from curbside.answer.plans import SECTION_PLANS, YESNO_SECTIONS
from curbside.answer.sentences import on_topic_documents
from curbside.config import Settings
from curbside.datafiles import load_data, rules_of
from curbside.errors import ModelError
from curbside.ingestion.chunking import split_sentences
from curbside.retrieval.evidence import document_label
from curbside.types import (
    SECTION_SEPARATOR,
    Article,
    ArticleSection,
    ArticleWarning,
    Citation,
    Claim,
    Hit,
    Query,
    QuestionType,
)

__all__ = [
    "LAYOUTS",
    "PROMPT_VERSION",
    "LLMSynthesizer",
    "Passage",
    "SectionSpec",
    "answer_model",
    "answer_schema",
    "build_passages",
    "constrain_cites",
    "parse_reply",
    "system_prompt",
    "user_prompt",
]

#: Version of the prompt files used; recorded in ``Article.metadata["prompt_version"]``.
PROMPT_VERSION = "v1"

#: Longest claim accepted, in characters: a claim is one sentence, not a paragraph.
MAX_CLAIM_CHARS = 600
#: Most citations one claim may carry.
MAX_CITES = 6
#: Most bottom-line claims.
MAX_BOTTOM_LINE = 4
#: A rejected reply longer than this is shortened when it is shown back to the model (context budget).
_ECHO_CHARS = 1500
#: A sentence id such as "2.3".  The dot is a character class, not "\\.": llama.cpp's grammar
#: parser rejects the escape that its own JSON-schema converter emits for it (and the process crashes).
_SENTENCE_ID = r"^[0-9]+[.][0-9]+$"


# --- section layouts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """One section the model is asked to fill: ``key`` names the ArticleSection, ``guidance`` goes in the prompt.

    A ``grouped`` section holds claims under cause categories that become
    subsections; ``intro`` is curbside's own framing line for the reader.
    """

    key: str
    heading: str
    guidance: str
    grouped: bool = False
    style: Literal["paragraph", "bullets"] = "bullets"
    intro: str = ""

    @property
    def field(self) -> str:
        """The JSON key: the section key with underscores (``special-populations`` -> ``special_populations``)."""
        return self.key.replace("-", "_")


_PARTS: Final = load_data(
    "llm_prompt_parts.json", "prompt parts", rules_of("guidance", "yesno_guidance", "question_types")
)
#: What belongs in each section, told to the model; a section without an entry uses its intro.
_GUIDANCE: Final[dict[str, str]] = dict(_PARTS["guidance"])
#: The extractive catch-all ("Other findings") asks a model for padding; the model is told to answer.
_SKIPPED = frozenset({"other-findings"})

#: Yes/no articles: the verdict plus evidence on each side (the extractive synthesizer's sections).
_YESNO_LAYOUT: Final = tuple(
    SectionSpec(key, heading, _PARTS["yesno_guidance"][key], intro=intro)
    for key, (heading, intro) in YESNO_SECTIONS.items()
)


def _layout(qtype: QuestionType) -> tuple[SectionSpec, ...]:
    if qtype == "yesno":
        return _YESNO_LAYOUT
    return tuple(
        SectionSpec(
            spec.key,
            spec.heading,
            _GUIDANCE.get(spec.key, spec.intro),
            grouped=spec.key == "causes",
            style=spec.style,
            intro=spec.intro,
        )
        for spec in SECTION_PLANS[qtype]
        if spec.key not in _SKIPPED
    )


#: Sections per question type, in article order: the extractive synthesizer's plans, so both
#: synthesizers produce the same section keys and headings for reviewers and renderers.
LAYOUTS: dict[QuestionType, tuple[SectionSpec, ...]] = {q: _layout(q) for q in get_args(QuestionType)}

#: Cause categories a grouped section may use, by label (what the model writes) -> key.
CATEGORIES: dict[str, str] = {c.label: c.key for c in CAUSE_CATEGORIES}

_QTYPE_LABELS: Final[dict[QuestionType, str]] = dict(_PARTS["question_types"])


# --- answer schema --------------------------------------------------------------------------------


def _claim_text(value: str) -> str:
    """Reject blank and overlong claims; the constraint lives here so the JSON schema stays portable."""
    if not value.strip():
        raise ValueError("claim text is empty")
    if len(value) > MAX_CLAIM_CHARS:
        raise ValueError(f"claim text is {len(value)} characters; keep each claim to one sentence")
    return value.strip()


def _category(value: str) -> str:
    if value not in CATEGORIES:
        raise ValueError(f"category must be one of: {', '.join(CATEGORIES)}")
    return value


class CitedClaim(BaseModel):
    """One claim of the model's reply and the sentence ids that support it."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, AfterValidator(_claim_text)]
    cites: list[Annotated[str, Field(pattern=_SENTENCE_ID)]] = Field(min_length=1, max_length=MAX_CITES)


class ClaimGroup(BaseModel):
    """Claims under one cause category (e.g. "Infections") in a grouped section."""

    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, AfterValidator(_category), Field(json_schema_extra={"enum": list(CATEGORIES)})]
    claims: list[CitedClaim] = Field(min_length=1)


@cache
def answer_model(qtype: QuestionType) -> type[BaseModel]:
    """The pydantic model a reply for ``qtype`` must validate against (every key required)."""
    fields: dict[str, Any] = {}
    if qtype == "yesno":
        fields["verdict"] = (Literal["yes", "no", "uncertain"], ...)
    fields["bottom_line"] = (list[CitedClaim], Field(max_length=MAX_BOTTOM_LINE))
    for spec in LAYOUTS[qtype]:
        fields[spec.field] = (list[ClaimGroup] if spec.grouped else list[CitedClaim], ...)
    model: type[BaseModel] = create_model(
        f"{qtype.capitalize()}Answer", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


@cache
def _schema(qtype: QuestionType) -> dict[str, Any]:
    return _inline_refs(answer_model(qtype).model_json_schema())


def answer_schema(qtype: QuestionType) -> dict[str, Any]:
    """The JSON Schema sent to the backend: :func:`answer_model`'s, with ``$ref``s inlined.

    Inlined because grammar compilers (llama.cpp's among them) differ in how
    much of ``$ref`` they understand, and the models are not recursive.
    A fresh copy each call, so a backend may not alter the cached one.
    """
    return copy.deepcopy(_schema(qtype))


def constrain_cites(schema: dict[str, Any], sentence_ids: Sequence[str]) -> dict[str, Any]:
    """A copy of ``schema`` in which every ``cites`` item must be one of ``sentence_ids``.

    Sent to the backend for one request: a grammar-constrained backend (llama.cpp) then cannot
    write an id that is not in the passages, the commonest failure of small models.  The reply is
    still validated against the ids afterwards, since not every backend enforces a schema.
    """
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            cites = node.get("properties", {}).get("cites")
            if isinstance(cites, dict) and cites.get("type") == "array":
                cites["items"] = {"type": "string", "enum": list(sentence_ids)}
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out: dict[str, Any] = resolve(schema)
    return out


# --- passages -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Passage:
    """One numbered piece of evidence: a chunk's sentences, each an exact span of the document body."""

    number: int
    hit: Hit
    sentences: tuple[Citation, ...]

    def sentence_ids(self) -> list[str]:
        return [f"{self.number}.{i}" for i in range(1, len(self.sentences) + 1)]


def build_passages(hits: Sequence[Hit], *, max_passages: int, max_chars: int) -> list[Passage]:
    """Number the best ``max_passages`` distinct chunks, keeping whole sentences within ``max_chars``.

    The first passage always gets at least one sentence, however long, so a
    small budget never turns evidence into "no evidence".
    """
    passages: list[Passage] = []
    seen: set[str] = set()
    used = 0
    for hit in hits:
        if len(passages) >= max_passages or used >= max_chars:
            break
        chunk = hit.chunk
        if chunk.id in seen or chunk.end <= chunk.start:
            continue
        seen.add(chunk.id)
        body = hit.document.body
        text = body[chunk.start : chunk.end]
        sentences: list[Citation] = []
        for s, e in _sentence_spans(text):
            if used + (e - s) > max_chars and (sentences or passages):
                break
            start, end = chunk.start + s, chunk.start + e
            sentences.append(Citation(hit.document.id, start, end, body[start:end]))
            used += e - s
        if sentences:
            passages.append(Passage(len(passages) + 1, hit, tuple(sentences)))
    return passages


def _sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """Sentence spans of ``text``; a section break always ends a sentence (a heading has no full stop)."""
    offset = 0
    for segment in text.split(SECTION_SEPARATOR):
        for s, e in split_sentences(segment):
            yield offset + s, offset + e
        offset += len(segment) + len(SECTION_SEPARATOR)


def _escape(text: str) -> str:
    """Neutralise angle brackets so evidence cannot forge a ``</passages>`` delimiter."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _attribute(text: str) -> str:
    return _escape(text).replace('"', "'").replace("\n", " ")


def _render_passage(p: Passage) -> str:
    doc = p.hit.document
    label = document_label(doc)  # "Animal study" too, as the reference list shows it
    year = f' year="{doc.year}"' if doc.year else ""
    lines = [f'<passage id="{p.number}" document="{_attribute(doc.id)}" type="{label}"{year}>']
    if doc.title:
        lines.append(f"Title (context only, not citable): {_escape(doc.title)}")
    for sid, sentence in zip(p.sentence_ids(), p.sentences, strict=True):
        lines.append(f"[{sid}] {_escape(' '.join(sentence.quote.split()))}")
    lines.append("</passage>")
    return "\n".join(lines)


def _id_ranges(passages: Sequence[Passage]) -> str:
    parts = []
    for p in passages:
        n = len(p.sentences)
        parts.append(f"{p.number}.1" if n == 1 else f"{p.number}.1–{p.number}.{n}")
    return ", ".join(parts)


# --- prompts --------------------------------------------------------------------------------------


@cache
def _prompt(name: str) -> Template:
    text = resources.files("curbside.answer").joinpath("prompts", f"{name}.{PROMPT_VERSION}.txt")
    return Template(text.read_text(encoding="utf-8"))


def system_prompt() -> str:
    """The system message: fixed text, never built from evidence or question."""
    return _prompt("system").template.strip()


def _skeleton(qtype: QuestionType) -> str:
    parts = []
    if qtype == "yesno":
        parts.append('"verdict": "yes" | "no" | "uncertain"')
    parts.append('"bottom_line": [CLAIM, ...]')
    for spec in LAYOUTS[qtype]:
        if spec.grouped:
            parts.append(
                f'"{spec.field}": [{{"category": "{next(iter(CATEGORIES))}", "claims": [CLAIM, ...]}}, ...]'
            )
        else:
            parts.append(f'"{spec.field}": [CLAIM, ...]')
    return "{" + ", ".join(parts) + "}"


def _section_lines(qtype: QuestionType) -> str:
    lines = []
    if qtype == "yesno":
        lines.append('- "verdict": "yes", "no" or "uncertain": the answer the evidence supports')
    lines.append(f'- "bottom_line": 1 to {MAX_BOTTOM_LINE} claims that answer the question directly')
    for spec in LAYOUTS[qtype]:
        line = f'- "{spec.field}": {spec.heading}: {spec.guidance}'
        if spec.grouped:
            line += "; each category is one of " + ", ".join(f'"{c}"' for c in CATEGORIES)
        lines.append(line)
    return "\n".join(lines)


def user_prompt(query: Query, passages: Sequence[Passage]) -> str:
    """The user message: question, wanted sections and the delimited passages."""
    return (
        _prompt("user")
        .substitute(
            question=_escape(" ".join(query.text.split())),
            qtype=_QTYPE_LABELS[query.qtype],
            sections=_section_lines(query.qtype),
            skeleton=_skeleton(query.qtype),
            passages="\n\n".join(_render_passage(p) for p in passages),
        )
        .strip()
    )


# --- validation -----------------------------------------------------------------------------------


class _InvalidReply(Exception):
    """A reply that failed validation; the message is what the model is told."""


def _validation_message(exc: ValidationError, limit: int = 8) -> str:
    lines = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "reply"
        lines.append(f"- {where}: {err['msg']}")
    if exc.error_count() > limit:
        lines.append(f"- and {exc.error_count() - limit} more problems")
    return "\n".join(lines)


def _claims_of(data: dict[str, Any], qtype: QuestionType) -> list[tuple[str, dict[str, Any]]]:
    """Every claim of a validated reply with its location (``causes.0.claims.1``)."""
    out = [(f"bottom_line.{i}", c) for i, c in enumerate(data["bottom_line"])]
    for spec in LAYOUTS[qtype]:
        for i, item in enumerate(data[spec.field]):
            if spec.grouped:
                out.extend((f"{spec.field}.{i}.claims.{j}", c) for j, c in enumerate(item["claims"]))
            else:
                out.append((f"{spec.field}.{i}", item))
    return out


def parse_reply(raw: str, qtype: QuestionType, sentences: dict[str, Citation]) -> dict[str, Any]:
    """Validate a reply whole: JSON, schema, then every citation id; raise with every problem found."""
    try:
        data: dict[str, Any] = answer_model(qtype).model_validate_json(raw).model_dump()
    except ValidationError as exc:
        raise _InvalidReply(_validation_message(exc)) from None
    unknown = [
        f'- {where}: cites "{sid}", which is not a sentence id in the passages'
        for where, claim in _claims_of(data, qtype)
        for sid in claim["cites"]
        if sid not in sentences
    ]
    if unknown:
        raise _InvalidReply("\n".join(unknown))
    return data


# --- the synthesizer ------------------------------------------------------------------------------


class LLMSynthesizer:
    """Drafts an article with a chat model; registered as synthesizer ``llm``.

    ``backend`` defaults to the registered chat backend named by
    ``settings.llm_backend``.  ``max_passages`` and ``max_evidence_chars``
    bound the evidence shown (the default budget fits a 4096-token context
    with room for the answer) and only documents covering ``min_coverage`` of
    the question are shown at all (see
    :func:`~curbside.answer.sentences.on_topic_documents`); ``retries`` is how many times an invalid reply
    is sent back with its problems before giving up.
    """

    name = "llm"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backend: ChatBackend | None = None,
        max_passages: int = 12,
        retries: int = 2,
        max_evidence_chars: int = 6000,
        max_tokens: int = 1500,
        temperature: float = 0.0,
        min_coverage: float = 0.5,
    ) -> None:
        if backend is None:
            from curbside.registry import get_registry

            settings = settings if settings is not None else Settings()
            backend = get_registry().get("chat", settings.llm_backend)(settings)
        self.backend: ChatBackend = backend
        self.max_passages = max_passages
        self.retries = max(0, retries)
        self.max_evidence_chars = max_evidence_chars
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.min_coverage = min_coverage

    def __repr__(self) -> str:
        return f"LLMSynthesizer(backend={self.backend.name}:{self.backend.model})"

    def synthesize(self, query: Query, hits: Sequence[Hit], on_token: TokenCallback | None = None) -> Article:
        """Draft an article from ``hits``; ``on_token`` receives the model's reply as it streams.

        Each attempt streams afresh, so after a rejected reply the callback
        sees the next attempt from its start.
        """
        started = time.perf_counter()
        # The same test as the extractive synthesizer's: hits whose documents do not cover the
        # question are not evidence, and passing none to a model beats inviting it to improvise.
        on_topic = on_topic_documents(query, hits, min_coverage=self.min_coverage)
        hits = [h for h in hits if h.document.id in on_topic]
        passages = build_passages(hits, max_passages=self.max_passages, max_chars=self.max_evidence_chars)
        metadata: dict[str, Any] = {
            "synthesizer": self.name,
            "backend": self.backend.name,
            "model": self.backend.model,
            "prompt_version": PROMPT_VERSION,
            "passages": len(passages),
        }
        if not passages:
            # Nothing to cite: asking a model would only invite an uncited answer.
            return Article(
                question=query.text,
                qtype=query.qtype,
                title=title_for(query),
                bottom_line=(),
                sections=(),
                warnings=(
                    ArticleWarning(
                        "insufficient-evidence",
                        "Insufficient evidence: no passage in the store supports an answer to this question.",
                    ),
                ),
                metadata={**metadata, "attempts": 0, "seconds": 0.0},
            )
        sentences = {sid: s for p in passages for sid, s in zip(p.sentence_ids(), p.sentences, strict=True)}
        messages = [
            ChatMessage("system", system_prompt()),
            ChatMessage("user", user_prompt(query, passages)),
        ]
        schema = constrain_cites(answer_schema(query.qtype), list(sentences))
        problem = ""
        usage: dict[str, float] = {}
        for attempt in range(1, self.retries + 2):
            raw = self.backend.chat(
                messages,
                schema=schema,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                on_token=on_token,
            )
            # Backends that count tokens (llamacpp) expose the latest call's counts; summed over
            # attempts they give the answer's generation cost (tokens/s in bench/answer.py).
            last = getattr(self.backend, "last_usage", None)
            if isinstance(last, dict):
                for key in ("completion_tokens", "seconds"):
                    usage[key] = round(usage.get(key, 0) + float(last.get(key, 0)), 3)
            try:
                data = parse_reply(raw, query.qtype, sentences)
            except _InvalidReply as exc:
                problem = str(exc)
                echo = raw if len(raw) <= _ECHO_CHARS else raw[:_ECHO_CHARS] + " …[shortened]"
                messages += [
                    ChatMessage("assistant", echo),
                    ChatMessage(
                        "user",
                        _prompt("retry").substitute(error=problem, valid_ids=_id_ranges(passages)).strip(),
                    ),
                ]
                continue
            metadata.update(attempts=attempt, seconds=round(time.perf_counter() - started, 3))
            if usage:
                metadata.update(
                    completion_tokens=int(usage["completion_tokens"]), generation_s=usage["seconds"]
                )
            return self._article(query, data, sentences, metadata)
        raise ModelError(
            f"the language model {self.backend.name}:{self.backend.model} gave no valid answer in "
            f"{self.retries + 1} attempts; the last reply was refused because:\n{problem}",
            hint="try a larger model, or answer without a language model with `--synthesizer extractive`.",
        )

    def _article(
        self, query: Query, data: dict[str, Any], sentences: dict[str, Citation], metadata: dict[str, Any]
    ) -> Article:
        def claim(item: dict[str, Any], category: str = "") -> Claim:
            cites = tuple(sentences[sid] for sid in dict.fromkeys(item["cites"]))
            return Claim(text=item["text"], citations=cites, category=category)

        sections = []
        for spec in LAYOUTS[query.qtype]:
            items = data[spec.field]
            if not spec.grouped:
                claims = tuple(claim(c) for c in items)
                sections.append(ArticleSection(spec.key, spec.heading, claims, spec.style, intro=spec.intro))
                continue
            # Subsections follow the category order of the extractive synthesizer; a category the
            # model names twice is merged (nothing is dropped).
            by_key: dict[str, list[Claim]] = {}
            for group in items:
                bucket = by_key.setdefault(CATEGORIES[group["category"]], [])
                bucket.extend(claim(c, group["category"]) for c in group["claims"])
            subsections = tuple(
                ArticleSection(f"{spec.key}-{cat.key}", cat.label, tuple(by_key[cat.key]), style=spec.style)
                for cat in CAUSE_CATEGORIES
                if cat.key in by_key
            )
            sections.append(
                ArticleSection(spec.key, spec.heading, (), spec.style, subsections, intro=spec.intro)
            )
        return Article(
            question=query.text,
            qtype=query.qtype,
            title=title_for(query),
            bottom_line=tuple(claim(c) for c in data["bottom_line"]),
            sections=drop_empty_sections(sections),
            verdict=data.get("verdict"),
            metadata=metadata,
        )
