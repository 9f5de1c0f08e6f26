"""The FTS5 query language curbside speaks, for a search engine that does not speak it.

Retrieval asks every store for BM25 over an SQLite FTS5 ``MATCH`` expression
(:func:`curbside.retrieval.questions.fts_expression`, :mod:`curbside.retrieval.facets`): quoted
phrases and bare words joined by ``OR``, ``AND`` (or nothing, which FTS5 reads
as AND) and parentheses.  An engine with plain BM25 over a bag of words (Milvus)
answers it in two steps that keep the SQLite ranking's meaning:

1. **tokens**: text is tokenised as FTS5's ``porter unicode61 remove_diacritics 2``
   tokenizer does (letters and digits, case and accents folded, Porter-stemmed).
   The engine indexes these tokens, not its own analysis of the raw text, so a
   milvus-lite file (no stemming) and a Milvus cluster score the same words;
2. **match**: the engine ranks by BM25 over all the expression's words; a chunk
   counts only when its tokens satisfy the expression (a phrase's words adjacent
   and in order), checked here by :meth:`Expression.matches`.

``NOT`` is kept too (``a NOT b``: ``a`` without ``b``).  Anything else FTS5
accepts (``NEAR``, prefix ``*``, ``^``, column filters) is refused with
:class:`~curbside.errors.StoreError` rather than read as words: curbside never
writes them, and BM25 over a bag of stemmed words cannot honour them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from curbside.errors import StoreError

_WORD: Final = re.compile(r"[^\W_]+")
# A quoted phrase ("" inside is a quote), a parenthesis, or a bare word.
_LEXEME: Final = re.compile(r'"((?:[^"]|"")*)"|(\()|(\))|([^\s()"]+)')
_OPERATORS: Final = frozenset({"AND", "OR", "NOT", "NEAR"})


@functools.lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer  # PyStemmer (the milvus extra): the Porter stemmer FTS5's porter tokenizer uses

    return Stemmer.Stemmer("porter")


def tokens(text: str) -> list[str]:
    """``text`` as FTS5's ``porter unicode61 remove_diacritics 2`` tokenizer reads it."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words = _WORD.findall(folded.lower())
    stem = _stemmer().stemWord  # type: ignore[attr-defined]
    # FTS5's porter tokenizer leaves tokens of one or two characters as they are ("as", "is", "s").
    return [w if len(w) < 3 else stem(w) for w in words]


def indexed_text(title: str, text: str) -> str:
    """The token string a chunk is indexed under: its title twice (SQLite weighs the title column
    2:1 in ``bm25(chunks_fts, 2.0, 1.0)``), then its text."""
    head = " ".join(tokens(title))
    return f"{head} {head} {' '.join(tokens(text))}".strip()


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]

    def matches(self, positions: dict[str, list[int]]) -> bool:
        first = positions.get(self.words[0], [])
        return any(all(p + i in positions.get(w, ()) for i, w in enumerate(self.words)) for p in first)


@dataclass(frozen=True)
class All:
    parts: tuple[Expression, ...]

    def matches(self, positions: dict[str, list[int]]) -> bool:
        return all(p.matches(positions) for p in self.parts)


@dataclass(frozen=True)
class Any_:
    parts: tuple[Expression, ...]

    def matches(self, positions: dict[str, list[int]]) -> bool:
        return any(p.matches(positions) for p in self.parts)


@dataclass(frozen=True)
class Without:
    kept: Expression
    excluded: Expression

    def matches(self, positions: dict[str, list[int]]) -> bool:
        return self.kept.matches(positions) and not self.excluded.matches(positions)


Expression = Phrase | All | Any_ | Without


def words(expression: Expression) -> list[str]:
    """Every token of ``expression``, in order: the engine's BM25 query."""
    if isinstance(expression, Phrase):
        return list(expression.words)
    if isinstance(expression, Without):
        return words(expression.kept)  # FTS5 scores only what a row must contain
    return [w for part in expression.parts for w in words(part)]


def positions_of(token_list: Sequence[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for i, t in enumerate(token_list):
        found.setdefault(t, []).append(i)
    return found


def parse(match: str) -> Expression:
    """The expression tree of an FTS5 ``MATCH`` string in curbside's subset (see the module docstring)."""
    lexemes: list[tuple[str, str]] = []
    at = 0
    for m in _LEXEME.finditer(match):
        if match[at : m.start()].strip():
            raise StoreError(f"full-text query {match!r}: cannot read {match[at : m.start()]!r}")
        at = m.end()
        phrase, opening, closing, bare = m.groups()
        if phrase is not None:
            lexemes.append(("phrase", phrase.replace('""', '"')))
        elif opening:
            lexemes.append(("(", "("))
        elif closing:
            lexemes.append((")", ")"))
        elif bare in _OPERATORS:
            lexemes.append(("op", bare))
        else:
            if any(c in bare for c in "*^:+-{}"):
                raise StoreError(
                    f"full-text query {match!r}: {bare!r} uses FTS5 syntax (prefix, column or boost) "
                    "that this search engine does not support"
                )
            lexemes.append(("phrase", bare))
    if match[at:].strip():
        raise StoreError(f"full-text query {match!r}: cannot read {match[at:]!r}")
    expression, rest = _or(lexemes, match)
    if rest:
        raise StoreError(f"full-text query {match!r}: unexpected {rest[0][1]!r}")
    return expression


def _or(lexemes: list[tuple[str, str]], match: str) -> tuple[Expression, list[tuple[str, str]]]:
    parts = []
    left, rest = _and(lexemes, match)
    parts.append(left)
    while rest and rest[0] == ("op", "OR"):
        left, rest = _and(rest[1:], match)
        parts.append(left)
    return (parts[0] if len(parts) == 1 else Any_(tuple(parts))), rest


def _and(lexemes: list[tuple[str, str]], match: str) -> tuple[Expression, list[tuple[str, str]]]:
    parts = []
    rest = lexemes
    while rest:
        kind, value = rest[0]
        if kind == "op" and value == "AND":
            rest = rest[1:]
            continue
        if (kind == "op" and value == "OR") or kind == ")":
            break
        if kind == "op" and value != "NOT":
            raise StoreError(f"full-text query {match!r}: {value} is not supported by this search engine")
        part, rest = _not(rest, match)
        parts.append(part)
    if not parts:
        raise StoreError(f"full-text query {match!r}: an operator with nothing to join")
    return (parts[0] if len(parts) == 1 else All(tuple(parts))), rest


def _not(lexemes: list[tuple[str, str]], match: str) -> tuple[Expression, list[tuple[str, str]]]:
    """``a NOT b``: NOT binds tighter than AND and OR, as in FTS5."""
    if lexemes[0] == ("op", "NOT"):
        raise StoreError(f"full-text query {match!r}: NOT needs something on its left")
    left, rest = _atom(lexemes, match)
    while rest and rest[0] == ("op", "NOT"):
        if len(rest) < 2 or rest[1][0] in ("op", ")"):
            raise StoreError(f"full-text query {match!r}: NOT needs something on its right")
        right, rest = _atom(rest[1:], match)
        left = Without(left, right)
    return left, rest


def _atom(lexemes: list[tuple[str, str]], match: str) -> tuple[Expression, list[tuple[str, str]]]:
    kind, value = lexemes[0]
    if kind == "(":
        inner, rest = _or(lexemes[1:], match)
        if not rest or rest[0][0] != ")":
            raise StoreError(f"full-text query {match!r}: unclosed parenthesis")
        return inner, rest[1:]
    stems = tuple(tokens(value))
    if not stems:
        # FTS5 matches nothing for a phrase without a word in it; an empty phrase never matches here.
        return Phrase(("\x00",)), lexemes[1:]
    return Phrase(stems), lexemes[1:]
