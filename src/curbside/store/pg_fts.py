"""Translate an SQLite FTS5 ``MATCH`` expression into a PostgreSQL ``tsquery`` expression.

Retrieval builds FTS5 syntax (:func:`curbside.retrieval.questions.fts_query`: quoted phrases
joined by ``OR``) because the embedded store speaks it; the PostgreSQL store
accepts the same string so that every caller stays backend-neutral.  Supported:
quoted phrases (``""`` escapes a quote), bare words, ``word*`` prefixes,
``AND`` / ``OR`` / ``NOT`` (FTS5 precedence: NOT binds tightest, then AND, then
OR), implicit AND between neighbours, parentheses, and ``NEAR(a b, N)`` (read
as AND: tsquery has no unordered proximity).  Column filters are rejected with
a clear error instead of being silently ignored.

The result is a :class:`psycopg.sql.Composable` built from
``phraseto_tsquery`` / ``to_tsquery`` calls on SQL literals quoted by psycopg, so
user text never becomes SQL or tsquery syntax: each phrase goes through
PostgreSQL's own parser and the stemmer that built the index.  Being
constants, the calls are folded once at plan time and the GIN index applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from curbside.errors import StoreError
from curbside.store.base import SearchFilters

CONFIG = "curbside_english"  # created by migration 0001: English stems, no stop words

_BARE = re.compile(r"[\w\u0080-\U0010ffff]+", re.UNICODE)


@dataclass(frozen=True)
class _Tok:
    kind: str  # "phrase", "word", "prefix", "op", "(", ")", ","
    value: str


def _tokens(match: str) -> list[_Tok]:
    match = match.replace("\x00", " ")  # PostgreSQL text cannot hold NUL; FTS5 stops reading there
    out: list[_Tok] = []
    i, n = 0, len(match)
    while i < n:
        ch = match[i]
        if ch.isspace():
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise StoreError(f"full-text query {match!r} failed: unterminated string")
                if match[j] == '"':
                    if j + 1 < n and match[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(match[j])
                j += 1
            i = j + 1
            if i < n and match[i] == "*":
                out.append(_Tok("prefix", "".join(buf)))
                i += 1
            else:
                out.append(_Tok("phrase", "".join(buf)))
        elif ch in "(),":
            out.append(_Tok(ch, ch))
            i += 1
        else:
            m = _BARE.match(match, i)
            if m is None:
                raise StoreError(f"full-text query {match!r} failed: syntax error near {match[i : i + 10]!r}")
            word = m.group(0)
            i = m.end()
            if i < n and match[i] == ":":
                raise StoreError(f"full-text query {match!r} failed: column filters are not supported")
            if word in {"AND", "OR", "NOT"}:
                out.append(_Tok("op", word))
            elif word == "NEAR" and i < n and match[i] == "(":
                out.append(_Tok("op", "NEAR"))
            elif i < n and match[i] == "*":
                out.append(_Tok("prefix", word))
                i += 1
            else:
                out.append(_Tok("word", word))
    return out


class _Parser:
    def __init__(self, match: str) -> None:
        self.match = match
        self.toks = _tokens(match)
        self.pos = 0

    def fail(self, why: str) -> StoreError:
        return StoreError(f"full-text query {self.match!r} failed: {why}")

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end of query")
        self.pos += 1
        return tok

    def parse(self) -> sql.Composable:
        if not self.toks:
            raise self.fail("empty query")
        expr = self.or_expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek().value!r}")  # type: ignore[union-attr]
        return expr

    def or_expr(self) -> sql.Composable:
        left = self.and_expr()
        while (tok := self.peek()) is not None and tok == _Tok("op", "OR"):
            self.take()
            left = sql.SQL("({} || {})").format(left, self.and_expr())
        return left

    def and_expr(self) -> sql.Composable:
        left = self.not_expr()
        while (tok := self.peek()) is not None and (
            tok == _Tok("op", "AND") or tok.kind in {"phrase", "word", "prefix", "("} or tok.value == "NEAR"
        ):
            if tok.kind == "op" and tok.value == "AND":
                self.take()
            left = sql.SQL("({} && {})").format(left, self.not_expr())
        return left

    def not_expr(self) -> sql.Composable:
        left = self.primary()
        while (tok := self.peek()) is not None and tok == _Tok("op", "NOT"):
            self.take()
            left = sql.SQL("({} && !!{})").format(left, self.primary())
        return left

    def primary(self) -> sql.Composable:
        tok = self.take()
        if tok.kind in {"phrase", "word"}:
            return phrase_sql(tok.value)
        if tok.kind == "prefix":
            words = _BARE.findall(tok.value)
            if not words:
                raise self.fail(f"prefix {tok.value!r}* has no word")
            # The last word of a phrase is the prefix (FTS5 semantics); the words were
            # checked against _BARE, so nothing here is tsquery syntax.
            text = " <-> ".join([*words[:-1], words[-1] + ":*"])
            return sql.SQL("to_tsquery({}::regconfig, {})").format(sql.Literal(CONFIG), sql.Literal(text))
        if tok.kind == "(":
            inner = self.or_expr()
            if self.take().kind != ")":
                raise self.fail("missing ')'")
            return inner
        if tok.kind == "op" and tok.value == "NEAR":
            return self.near()
        raise self.fail(f"unexpected {tok.value!r}")

    def near(self) -> sql.Composable:
        if self.take().kind != "(":
            raise self.fail("NEAR needs '('")
        parts: list[sql.Composable] = []
        while (tok := self.peek()) is not None and tok.kind in {"phrase", "word", "prefix"}:
            parts.append(self.primary())
        if not parts:
            raise self.fail("NEAR() needs at least one phrase")
        if (tok := self.peek()) is not None and tok.kind == ",":
            self.take()
            distance = self.take()
            if distance.kind != "word" or not distance.value.isdigit():
                raise self.fail("NEAR distance must be a number")
        if self.take().kind != ")":
            raise self.fail("missing ')' after NEAR")
        return sql.SQL("({})").format(sql.SQL(" && ").join(parts))


def to_tsquery_sql(match: str) -> sql.Composable:
    """The tsquery SQL expression for an FTS5 ``match`` (raises :class:`StoreError` on bad syntax)."""
    return _Parser(match).parse()


def or_of_phrases(match: str) -> list[str] | None:
    """The phrases of ``match`` when it is a plain ``"a" OR "b c" OR word`` list (what retrieval
    builds), else ``None``.  Such a query can be ranked term by term (see :mod:`.pg_rank`)."""
    toks = _tokens(match)
    phrases: list[str] = []
    for i, tok in enumerate(toks):
        if i % 2 == 1:
            if tok != _Tok("op", "OR"):
                return None
        elif tok.kind in {"phrase", "word"}:
            phrases.append(tok.value)
        else:
            return None
    return phrases if phrases and len(toks) % 2 == 1 else None


def phrase_sql(phrase: str) -> sql.Composable:
    return sql.SQL("phraseto_tsquery({}::regconfig, {})").format(sql.Literal(CONFIG), sql.Literal(phrase))


def filter_sql(filters: SearchFilters | None) -> sql.Composable:
    """Search filters as SQL conditions on the ``documents d`` alias, as literals
    (see :meth:`curbside.store.postgres.PostgresStore.search_text`)."""
    if filters is None:
        return sql.SQL("")
    conds: list[sql.Composable] = []
    if filters.year_from is not None:
        conds.append(sql.SQL("d.year >= {}").format(sql.Literal(int(filters.year_from))))
    if filters.year_to is not None:
        conds.append(sql.SQL("d.year <= {}").format(sql.Literal(int(filters.year_to))))
    if filters.kinds:
        conds.append(sql.SQL("d.kind = ANY({}::text[])").format(sql.Literal(list(filters.kinds))))
    if filters.publication_types:
        wanted = [t.lower() for t in filters.publication_types]
        conds.append(sql.SQL("d.publication_types && {}::text[]").format(sql.Literal(wanted)))
    if filters.exclude_retracted:
        conds.append(sql.SQL("NOT d.retracted"))
    if not conds:
        return sql.SQL("")
    return sql.SQL(" AND ") + sql.SQL(" AND ").join(conds)
