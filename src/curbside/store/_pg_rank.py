"""Fast, IDF-weighted ranking of an OR of phrases on a large PostgreSQL store.

Retrieval ORs every term of a question (``"tailored" OR "use" OR "women" ...``).
Ranked naively, PostgreSQL must score every chunk that contains *any* term, and a
word like "use" is in a quarter of all abstracts: 300 ms at 50k documents.  BM25
(what the SQLite store's FTS5 computes) gives such a word almost no weight, so:

* the document frequency of each term comes from PostgreSQL's own statistics on
  the ``tsv`` column (``pg_stats.most_common_elems``, gathered by ANALYZE: the
  ~10,000 most frequent lexemes with their frequencies, migration 0004; anything
  rarer is below the smallest of those);
* terms are evaluated one at a time, as a search engine walks posting lists: each
  scores only the chunks containing it, the sums are ranked and the best
  ``3 k`` are rescored with every term;
* only the rarest terms are walked at first (within a budget of postings); when
  they give fewer than ``k`` hits the next, more common, terms are admitted -
  the top-k pruning idea of WAND / block-max search engines, approximate in the
  same way: a chunk holding only very common words cannot outrank one holding a
  rare one unless few chunks hold the rare ones, and then the tier widens;
* the score is BM25-like: sum over the query's terms of ``idf(term) *
  ts_rank_cd(term)`` (cover density with the title weighted twice the text and a
  logarithmic length penalty), so a rare term outweighs a frequent one.

Below :data:`MIN_CHUNKS` chunks one plain query is fast enough and is used instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from curbside.store._pg_fts import CONFIG, phrase_sql

MIN_CHUNKS = 20_000
FREQ_TTL_S = 600.0  # statistics are re-read this often (autovacuum re-analyses as the table grows)
#: Estimated postings read per attempt: the rarest terms within the first budget; if they give
#: fewer than k hits (after filters), the next budget admits more common terms.
BUDGETS = (1_000.0, 5_000.0, 25_000.0, math.inf)
RESCORE_FACTOR = 3  # candidates rescored with every term: RESCORE_FACTOR * k


@dataclass(frozen=True)
class Frequencies:
    """Fraction of chunks containing each frequent lexeme; ``floor``: rarer lexemes are not listed."""

    by_lexeme: dict[str, float]
    floor: float
    chunks: float  # rows of chunks when the statistics were gathered

    def of(self, lexemes: list[str]) -> float:
        # A phrase is at most as frequent as its rarest word.
        return min(self.by_lexeme.get(lex, self.floor / 2) for lex in lexemes)


class TermRanker:
    """Per store: caches the lexeme statistics, builds and runs the tiered query."""

    def __init__(self, *, min_chunks: int = MIN_CHUNKS) -> None:
        self.min_chunks = min_chunks
        self._lock = threading.Lock()
        self._cached: tuple[float, Frequencies | None] | None = None

    def frequencies(self, conn: psycopg.Connection[Any]) -> Frequencies | None:
        now = time.monotonic()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < FREQ_TTL_S:
                return self._cached[1]
        freqs = self._load(conn)
        with self._lock:
            self._cached = (now, freqs)
        return freqs

    def _load(self, conn: psycopg.Connection[Any]) -> Frequencies | None:
        big = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM chunks LIMIT %s) x", (self.min_chunks,)
        ).fetchone()
        if big is None or big[0] < self.min_chunks:
            return None
        query = (
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE schemaname = current_schema() AND tablename = 'chunks' AND attname = 'tsv'"
        )
        row = conn.execute(query).fetchone()
        if row is None or row[0] is None:
            conn.execute("ANALYZE chunks")  # a freshly loaded table autovacuum has not reached yet
            row = conn.execute(query).fetchone()
            if row is None or row[0] is None:
                return None
        elems: list[str] = row[0]
        freqs: list[float] = row[1]
        # The frequencies are followed by their minimum, their maximum and the null fraction.
        floor = float(freqs[len(elems)]) if len(freqs) > len(elems) else min(freqs)
        total = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass").fetchone()
        chunks = float(total[0]) if total and total[0] > 0 else float(self.min_chunks)
        return Frequencies(dict(zip(elems, map(float, freqs), strict=False)), floor, chunks)

    def search(
        self,
        conn: psycopg.Connection[Any],
        weighted: Sequence[tuple[str, float]],
        k: int,
        select: sql.Composable,
        where: sql.Composable,
    ) -> list[tuple[Any, ...]] | None:
        """Rows of ``select`` ranked as described above, or ``None``: use the plain query.

        ``weighted``: ``(phrase, weight)``; a term's score is multiplied by its weight
        (a question's own words 1, its concepts' synonyms less), so one query ranks
        what would otherwise be one query per weight, merged.
        """
        freqs = self.frequencies(conn)
        if freqs is None:
            return None
        phrases = [p for p, _ in weighted]
        weights = [w for _, w in weighted]
        rows = conn.execute(
            "SELECT t.ord, array_remove(array_agg(l.lexeme), NULL) FROM unnest(%s::text[]) WITH ORDINALITY "
            "AS t(p, ord) LEFT JOIN LATERAL unnest(to_tsvector(%s::regconfig, t.p)) AS l(lexeme, positions, "
            "weights) ON true GROUP BY t.ord ORDER BY t.ord",
            (phrases, CONFIG),
        ).fetchall()
        # A phrase with no word in it matches nothing and is dropped.
        terms = sorted(
            ((int(o) - 1, freqs.of(lexemes)) for o, lexemes in rows if lexemes), key=lambda t: t[1]
        )
        if not terms:
            return []
        scored = [
            (phrase_sql(phrases[i]), sql.Literal(round(weights[i] * math.log(1 + (1 - f) / f), 4)))
            for i, f in terms
        ]
        full_score = sql.SQL(" + ").join(sql.SQL("{} * {}").format(idf, _rank(q)) for q, idf in scored)
        found: list[tuple[Any, ...]] = []
        used = 0
        for budget in BUDGETS:
            # The rarest terms whose postings together stay within the budget (at least one).
            n, rows_estimate = 0, 0.0
            while n < len(terms) and (n == 0 or rows_estimate + terms[n][1] * freqs.chunks <= budget):
                rows_estimate += terms[n][1] * freqs.chunks
                n += 1
            if n == used:
                continue
            used = n
            # Term at a time, as a search engine walks posting lists: each chosen term scores only
            # the chunks that contain it; the best few are then rescored with every term.
            postings = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT c.key, {idf} * {rank} AS s FROM chunks c WHERE c.tsv @@ {q}").format(
                    idf=idf, rank=_rank(q), q=q
                )
                for q, idf in scored[:n]
            )
            query = sql.SQL(
                "WITH part AS (SELECT key, sum(s) AS s FROM ({postings}) t GROUP BY key), "
                "top AS (SELECT part.key FROM part JOIN chunks c ON c.key = part.key "
                "JOIN documents d ON d.id = c.document_id WHERE true{where} ORDER BY part.s DESC LIMIT {m}) "
                "SELECT {select}, {score} AS score FROM top JOIN chunks c ON c.key = top.key "
                "ORDER BY score DESC, c.key LIMIT {k}"
            ).format(
                postings=postings,
                where=where,
                m=sql.Literal(int(k) * RESCORE_FACTOR),
                select=select,
                score=full_score,
                k=sql.Literal(int(k)),
            )
            found = conn.execute(query).fetchall()  # (parallel workers are off for the session)
            if len(found) >= k or n == len(terms):
                return found
        return found


def _rank(tsquery: sql.Composable) -> sql.Composable:
    return sql.SQL("ts_rank_cd({w}::float4[], c.tsv, {q}, {norm})").format(
        w=sql.Literal(RANK_WEIGHTS), q=tsquery, norm=sql.Literal(RANK_NORMALISATION)
    )


# Shared with the plain query in postgres.py.
RANK_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"  # {D, C, B, A}: title (A) counts twice the chunk text (B)
RANK_NORMALISATION = 1  # divide by 1 + log(length): a gentle length penalty, like BM25's
