"""Topics for the article library (:mod:`curbside.review.library`): from a file, or from the store's MeSH headings.

API::

    load_topics(path, max_chars=1000) -> list[Topic]   # a text file (one question a line) or JSON
    mesh_topics(store, limit=20, per_descriptor=2) -> list[Topic]

A :class:`Topic` is a question and the label the web app's library page groups
its article under ("Leukopenia").  :func:`mesh_topics` asks about the store's most
frequent major MeSH descriptors; what each descriptor is (a drug, a condition)
and which questions suit it are read from ``data/library.json``.
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curbside.datafiles import load_data
from curbside.errors import CurbsideError, InputError
from curbside.retrieval.vocabulary import natural_order
from curbside.review.records import question_key

if TYPE_CHECKING:
    from curbside.store.base import Store


@dataclass(frozen=True)
class Topic:
    """One article to write: its question and the topic label the library page groups it under."""

    question: str
    label: str


def load_topics(path: Path, *, max_chars: int = 1000) -> list[Topic]:
    """The topics in ``path``; :class:`InputError` naming the file (and line or item) otherwise.

    A text file holds one question a line, optionally ``label<TAB>question``;
    blank lines and lines starting with ``#`` are skipped.  A ``.json`` file (or
    one starting with ``[``) holds a list of questions or of objects
    ``{"question": ..., "topic": ...}``.  Without a label, the topic is the
    question's first vocabulary concept (else the question).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such topics file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; give a topics file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); give one question a line") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the topics file: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise InputError(f"{path}: a binary file, not a topics file; give one question a line")
    stripped = text.lstrip("\ufeff").strip()
    if path.suffix.lower() == ".json" or stripped.startswith(("[", "{")):
        raw = _json_topics(path, stripped)
    else:
        raw = []
        for n, line in enumerate(text.lstrip("\ufeff").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            given, _, question = line.rpartition("\t")
            raw.append((f"line {n}", question.strip(), given.strip() or None))
    if not raw:
        raise InputError(f"{path}: no topics in the file", hint="write one question a line")
    topics: list[Topic] = []
    seen: dict[str, str] = {}
    for where, question, label in raw:
        if not question:
            raise InputError(f"{path}: {where}: the question is empty")
        if len(question) > max_chars:
            raise InputError(
                f"{path}: {where}: the question is {len(question):,} characters long; the limit is "
                f"{max_chars:,} (CURBSIDE_MAX_QUESTION_CHARS)"
            )
        key = question_key(question)
        if key in seen:
            raise InputError(f"{path}: {where} repeats the question of {seen[key]}: {question!r}")
        seen[key] = where
        topics.append(Topic(question, label or _label_of(question)))
    return topics


def _json_topics(path: Path, text: str) -> list[tuple[str, str, str | None]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, list):
        raise InputError(
            f'{path}: the JSON must be a list of questions or of {{"question", "topic"}} objects, '
            f"not {type(data).__name__}"
        )
    out: list[tuple[str, str, str | None]] = []
    for i, item in enumerate(data):
        where = f"item {i}"
        if isinstance(item, str):
            out.append((where, item.strip(), None))
        elif isinstance(item, dict) and isinstance(item.get("question"), str):
            label = item.get("topic")
            if label is not None and not isinstance(label, str):
                raise InputError(f'{path}: {where}: "topic" must be text, not {type(label).__name__}')
            unknown = sorted(set(item) - {"question", "topic"})
            if unknown:
                raise InputError(f"{path}: {where}: unknown field(s) {', '.join(unknown)}")
            out.append((where, item["question"].strip(), (label or "").strip() or None))
        else:
            raise InputError(f'{path}: {where}: expected a question or an object with a "question" string')
    return out


def _label_of(question: str) -> str:
    from curbside.retrieval.questions import analyse

    try:
        concepts = analyse(question).concepts
    except CurbsideError:
        concepts = ()
    if concepts:
        return natural_order(concepts[0].preferred)
    return " ".join(question.split()).rstrip("?.! ")


@dataclass(frozen=True)
class _Kind:
    signals: frozenset[str]
    questions: dict[str, str]  # qualifier -> question template
    defaults: tuple[str, ...]


@functools.cache
def _rules() -> tuple[float, float, dict[str, _Kind]]:
    return load_data(
        "library.json",
        "library topic kinds",
        lambda data: (
            float(data["kind_share"]),
            float(data["question_share"]),
            {
                name: _Kind(frozenset(k["signals"]), dict(k["questions"]), tuple(k["defaults"]))
                for name, k in data["kinds"].items()
            },
        ),
    )


def _in_question(name: str) -> str:
    """A descriptor as written inside a question: "type 2 diabetes mellitus", "HIV infections"."""

    def word(w: str) -> str:
        parts = w.split("-")
        return "-".join(p.lower() if p[:1].isupper() and p[1:].islower() else p for p in parts)

    return " ".join(word(w) for w in natural_order(name).split())


def _verb(name: str) -> str:
    last = name.split()[-1].lower()
    plural = len(last) > 3 and last.endswith("s") and not last.endswith(("ss", "us", "is"))
    return "are" if plural else "is"


def mesh_topics(store: Store, *, limit: int = 20, per_descriptor: int = 2) -> list[Topic]:
    """Questions about the store's most frequent major MeSH descriptors that are drugs or conditions.

    A heading counts when it, or one of its qualifiers, is marked major.  Each
    descriptor's kind and questions come from the qualifiers it carries (see
    ``data/library.json``); descriptors of neither kind (Humans, Meat) are left out.
    """
    if limit < 1 or per_descriptor < 1:
        raise InputError(f"limit and per_descriptor must be at least 1 (got {limit}, {per_descriptor})")
    kind_share, question_share, kinds = _rules()
    headings: Counter[str] = Counter()
    major: Counter[str] = Counter()
    qualifiers: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for doc in store.iter_documents():
        for heading in doc.mesh:
            name = heading.descriptor
            headings[name] += 1
            if heading.major or any(q.major for q in heading.qualifiers):
                major[name] += 1
            for q in heading.qualifiers:
                qualifiers[name][q.name.lower()] += 1
    topics: list[Topic] = []
    for name, _ in sorted(major.items(), key=lambda item: (-item[1], item[0])):
        if name.count(",") > 1:  # "Infant, Newborn, Diseases" has no reading order to put it in
            continue
        seen, total = qualifiers[name], headings[name]
        share, kind = max((sum(seen[q] for q in k.signals) / total, n) for n, k in kinds.items())
        if share < kind_share:
            continue
        rules = kinds[kind]
        asked = [q for q in rules.questions if seen[q] >= question_share * total]
        questions: list[str] = []
        for template in [rules.questions[q] for q in sorted(asked, key=lambda q: (-seen[q], q))] or list(
            rules.defaults
        ):
            if template not in questions:
                questions.append(template)
        written = _in_question(name)
        for template in questions[:per_descriptor]:
            topics.append(
                Topic(template.format_map({"name": written, "is": _verb(written)}), natural_order(name))
            )
            if len(topics) >= limit:
                return topics
    return topics
    return topics
