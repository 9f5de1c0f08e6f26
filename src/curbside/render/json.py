"""JSON rendering: a documented, versioned form of an :class:`~curbside.types.Article`.

The format is described by ``article.schema.json`` next to this module (JSON
Schema draft 2020-12; load it with :func:`schema`) and in
``docs/article-json.md``.  Every document carries ``"schema": "curbside.article"``
and ``"schema_version"``; :func:`article_from_dict` reads any version up to
:data:`SCHEMA_VERSION` and rejects later ones by name rather than guessing.

Citation offsets index into the cited document's body (its sections joined by
a blank line), so a consumer can highlight the exact span -- or, when the
citation's ``part`` is ``"title"`` (a record without abstract), into its title.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from importlib import resources
from typing import Any, Final, TypeVar, cast, get_args, get_type_hints

from curbside.errors import InputError
from curbside.render.common import prepare
from curbside.types import (
    Article,
    ArticleSection,
    ArticleWarning,
    Audience,
    Citation,
    CitedPart,
    Claim,
    QuestionType,
    Reference,
    Verdict,
    YesNo,
)

SCHEMA_NAME: Final = "curbside.article"
#: Bump on any change a reader must know about; document it in docs/article-json.md.
SCHEMA_VERSION: Final = 1
SCHEMA_FILE: Final = "article.schema.json"

_VERDICTS: Final = frozenset(get_args(Verdict))
_AUDIENCES: Final = frozenset(get_args(Audience))
_QTYPES: Final = frozenset(get_args(QuestionType))
_YESNO: Final = frozenset(get_args(YesNo))
_WARNING_CODES: Final = frozenset(get_args(get_type_hints(ArticleWarning)["code"]))
_STYLES: Final = frozenset({"paragraph", "bullets"})
_PARTS: Final = frozenset(get_args(CitedPart))

T = TypeVar("T")


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of :func:`article_to_dict` output."""
    text = resources.files("curbside.render").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------


def _citation(c: Citation) -> dict[str, Any]:
    return {"document_id": c.document_id, "start": c.start, "end": c.end, "quote": c.quote, "part": c.part}


def _claim(c: Claim) -> dict[str, Any]:
    return {
        "text": c.text,
        "citations": [_citation(x) for x in c.citations],
        "verdict": c.verdict,
        "support": c.support,
        "supporting": _citation(c.supporting) if c.supporting is not None else None,
        "category": c.category,
        "note": c.note,
        "context": c.context,
        "relevance": c.relevance,
    }


def _section(s: ArticleSection) -> dict[str, Any]:
    return {
        "key": s.key,
        "heading": s.heading,
        "style": s.style,
        "intro": s.intro,
        "claims": [_claim(c) for c in s.claims],
        "subsections": [_section(x) for x in s.subsections],
    }


def article_to_dict(article: Article) -> dict[str, Any]:
    """The article as plain JSON-ready data (``metadata`` is copied as it is)."""
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "question": article.question,
        "qtype": article.qtype,
        "title": article.title,
        "audience": article.audience,
        "verdict": article.verdict,
        "bottom_line": [_claim(c) for c in article.bottom_line],
        "sections": [_section(s) for s in article.sections],
        "references": [asdict(r) for r in article.references],
        "warnings": [{"code": w.code, "message": w.message} for w in article.warnings],
        "removed_claims": [_claim(c) for c in article.removed_claims],
        "disclaimer": article.disclaimer,
        "metadata": dict(article.metadata),
    }


def render_json(article: Article, audience: Audience | None = None, *, indent: int | None = 2) -> str:
    """The article as a JSON document; :class:`InputError` if its metadata is not JSON data."""
    data = article_to_dict(prepare(article, audience))
    try:
        return json.dumps(data, ensure_ascii=False, indent=indent, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise InputError(f"article metadata cannot be written as JSON: {exc}") from exc


def json_renderer(article: Article, audience: Audience | None, verbose: bool) -> str:
    """The registered ``json`` renderer; removed claims are always included (``verbose`` has no effect)."""
    return render_json(article, audience)


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------


def _get(
    data: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...], where: str, default: Any = ...
) -> T:
    if key not in data:
        if default is ...:
            raise InputError(f"article JSON: {where}: missing field {key!r}")
        return cast(T, default)
    value = data[key]
    # bool is an int to Python but not to JSON Schema: "start": true is an error.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
        names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
        raise InputError(f"article JSON: {where}.{key}: expected {names}, got {type(value).__name__}")
    return cast(T, value)


def _optional_number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    return None if value is None else float(_get(data, key, (int, float), where))


def _choice(value: str, allowed: frozenset[str], where: str) -> str:
    if value not in allowed:
        raise InputError(f"article JSON: {where}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def _list(
    data: Mapping[str, Any], key: str, where: str, read: Callable[[Any, str], T], required: bool = False
) -> tuple[T, ...]:
    items: Sequence[Any] = _get(data, key, list, where, ... if required else [])
    return tuple(read(item, f"{where}.{key}[{i}]") for i, item in enumerate(items))


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"article JSON: {where}: expected an object, got {type(value).__name__}")
    return value


def _read_citation(value: Any, where: str) -> Citation:
    d = _obj(value, where)
    start: int = _get(d, "start", int, where)
    end: int = _get(d, "end", int, where)
    if not 0 <= start <= end:
        raise InputError(f"article JSON: {where}: need 0 <= start <= end, got {start}..{end}")
    part = _choice(_get(d, "part", str, where, "body"), _PARTS, f"{where}.part")
    return Citation(
        _get(d, "document_id", str, where), start, end, _get(d, "quote", str, where), cast(CitedPart, part)
    )


def _read_claim(value: Any, where: str) -> Claim:
    d = _obj(value, where)
    supporting = d.get("supporting")
    support: float = _get(d, "support", (int, float), where, 0.0)
    return Claim(
        text=_get(d, "text", str, where),
        citations=_list(d, "citations", where, _read_citation),
        verdict=cast(
            Verdict, _choice(_get(d, "verdict", str, where, "unchecked"), _VERDICTS, f"{where}.verdict")
        ),
        support=float(support),
        supporting=_read_citation(supporting, f"{where}.supporting") if supporting is not None else None,
        category=_get(d, "category", str, where, ""),
        note=_get(d, "note", str, where, ""),
        context=_get(d, "context", str, where, ""),
        relevance=_optional_number(d, "relevance", where),
    )


def _read_section(value: Any, where: str) -> ArticleSection:
    d = _obj(value, where)
    style = _choice(_get(d, "style", str, where, "bullets"), _STYLES, f"{where}.style")
    return ArticleSection(
        key=_get(d, "key", str, where),
        heading=_get(d, "heading", str, where),
        claims=_list(d, "claims", where, _read_claim),
        style="paragraph" if style == "paragraph" else "bullets",
        subsections=_list(d, "subsections", where, _read_section),
        intro=_get(d, "intro", str, where, ""),
    )


def _read_reference(value: Any, where: str) -> Reference:
    d = _obj(value, where)
    optional: dict[str, str | None] = {
        k: _get(d, k, (str, type(None)), where, None) for k in ("journal", "pmid", "doi", "url")
    }
    return Reference(
        number=_get(d, "number", int, where),
        document_id=_get(d, "document_id", str, where),
        title=_get(d, "title", str, where),
        year=_get(d, "year", (int, type(None)), where, None),
        label=_get(d, "label", str, where),
        retracted=_get(d, "retracted", bool, where, False),
        **optional,
    )


def _read_warning(value: Any, where: str) -> ArticleWarning:
    d = _obj(value, where)
    code = _choice(_get(d, "code", str, where), _WARNING_CODES, f"{where}.code")
    return ArticleWarning(code, _get(d, "message", str, where))  # type: ignore[arg-type]


def article_from_dict(data: Mapping[str, Any]) -> Article:
    """Rebuild an :class:`Article` from :func:`article_to_dict` output; errors name the offending field."""
    d = _obj(data, "top level")
    if d.get("schema", SCHEMA_NAME) != SCHEMA_NAME:
        raise InputError(f"article JSON: 'schema' is {d.get('schema')!r}, expected {SCHEMA_NAME!r}")
    version = _get(d, "schema_version", int, "top level", SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise InputError(
            f"article JSON: schema_version {version} is newer than this curbside reads ({SCHEMA_VERSION})",
            hint="upgrade curbside",
        )
    where = "top level"
    verdict: str | None = _get(d, "verdict", (str, type(None)), where, None)
    return Article(
        question=_get(d, "question", str, where),
        qtype=cast(QuestionType, _choice(_get(d, "qtype", str, where), _QTYPES, "qtype")),
        title=_get(d, "title", str, where),
        bottom_line=_list(d, "bottom_line", where, _read_claim),
        sections=_list(d, "sections", where, _read_section),
        references=_list(d, "references", where, _read_reference),
        warnings=_list(d, "warnings", where, _read_warning),
        removed_claims=_list(d, "removed_claims", where, _read_claim),
        verdict=cast(YesNo, _choice(verdict, _YESNO, "verdict")) if verdict is not None else None,
        audience=cast(
            Audience, _choice(_get(d, "audience", str, where, "clinician"), _AUDIENCES, "audience")
        ),
        disclaimer=_get(d, "disclaimer", str, where),
        metadata=dict(_get(d, "metadata", dict, where, {})),
    )


def article_from_json(text: str) -> Article:
    """Parse :func:`render_json` output."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"article JSON: not valid JSON: {exc}") from exc
    return article_from_dict(_obj(data, "top level"))
