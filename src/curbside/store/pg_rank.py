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
  walked term scores only the chunks containing it (idf x ``ts_rank_cd``, cheap),
  and the best ``2 k`` candidates go on to the real scoring below;
* only the rarest terms are walked at first (within a budget of postings); when
  they give fewer than ``k`` hits the next, more common, terms are admitted -
  the top-k pruning idea of WAND / block-max search engines, approximate in the
  same way: a chunk holding only very common words cannot outrank one holding a
  rare one unless few chunks hold the rare ones, and then the tier widens;
* the candidates are scored by **Okapi BM25** over every term of the query
  (k1 = 1.2, b = 0.75, Lucene's idf): term frequencies are read from the chunk's
  tsvector (a title occurrence counts twice, as FTS5's ``bm25(2.0, 1.0)`` weighs
  the title column), the length is the chunk's characters (title twice) against
  the average of a sample.  Ranking by the sum of ``ts_rank_cd`` instead had no
  saturation and scored a common word's many occurrences above a rare word's one:
  on the PubMedQA benchmark (``bench/retrieval.py --postgres``) nDCG@10 0.82
  against FTS5's 0.91; BM25 brings it to FTS5's level.

Other expressions (AND, NOT, prefixes, NEAR), and a table without statistics yet, are
ranked by one plain ``ts_rank_cd`` query instead.
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

from curbside.store.pg_fts import CONFIG, phrase_sql

MIN_CHUNKS = 1  # any store with statistics: BM25 here, as in FTS5, whatever the size
FREQ_TTL_S = 600.0  # statistics are re-read this often (autovacuum re-analyses as the table grows)
#: Estimated postings read per attempt: the rarest terms within the first budget; if they give
#: fewer than k hits (after filters), the next budget admits more common terms.
BUDGETS = (1_000.0, 5_000.0, 25_000.0, math.inf)
RESCORE_FACTOR = 2  # candidates scored by BM25: RESCORE_FACTOR * k (3 ranked no better on PubMedQA)
BM25_K1 = 1.2  # term-frequency saturation (FTS5's and bm25s' default)
BM25_B = 0.75  # length normalisation (likewise)
LEXEME_CACHE = 20_000  # phrases whose lexemes are kept (cleared when full)


@dataclass(frozen=True)
class Frequencies:
    """Fraction of chunks containing each frequent lexeme; ``floor``: rarer lexemes are not listed."""

    by_lexeme: dict[str, float]
    floor: float
    chunks: float  # rows of chunks when the statistics were gathered
    mean_length: float  # of a chunk in characters, its title counted twice (BM25's average length)

    def of(self, lexemes: list[str]) -> float:
        # A phrase is at most as frequent as its rarest word.
        return min(self.by_lexeme.get(lex, self.floor / 2) for lex in lexemes)


class TermRanker:
    """Per store: caches the lexeme statistics, builds and runs the tiered query."""

    def __init__(self, *, min_chunks: int = MIN_CHUNKS) -> None:
        self.min_chunks = min_chunks
        self._lock = threading.Lock()
        self._cached: tuple[float, Frequencies | None] | None = None
        self._lexemes: dict[str, list[str]] = {}  # phrase -> its lexemes (see lexemes())

    def frequencies(self, conn: psycopg.Connection[Any]) -> Frequencies | None:
        now = time.monotonic()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < FREQ_TTL_S:
                return self._cached[1]
        freqs = self._load(conn)
        if freqs is not None:  # an empty or tiny table is asked again: it is about to be filled
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
        # A sample of the first rows: the average moves little as a corpus grows, and reading
        # every row of a 40M-chunk table for it would take minutes.
        mean = conn.execute(
            "SELECT avg(length(text) + 2 * length(title)) FROM (SELECT text, title FROM chunks LIMIT 10000) x"
        ).fetchone()
        mean_length = float(mean[0]) if mean and mean[0] else 1.0
        return Frequencies(
            dict(zip(elems, map(float, freqs), strict=False)), floor, chunks, max(1.0, mean_length)
        )

    def lexemes(self, conn: psycopg.Connection[Any], phrases: Sequence[str]) -> list[list[str]]:
        """The index's lexemes of each phrase (stemmed by the server's own configuration), cached."""
        with self._lock:
            known = {p: self._lexemes[p] for p in phrases if p in self._lexemes}
        missing = [p for p in dict.fromkeys(phrases) if p not in known]
        if missing:
            rows = conn.execute(
                "SELECT t.ord, array_remove(array_agg(l.lexeme ORDER BY l.lexeme), NULL) FROM unnest(%s::text[]) "
                "WITH ORDINALITY AS t(p, ord) LEFT JOIN LATERAL unnest(to_tsvector(%s::regconfig, t.p)) "
                "AS l(lexeme, positions, weights) ON true GROUP BY t.ord",
                (missing, CONFIG),
            ).fetchall()
            for ordinal, found in rows:
                known[missing[int(ordinal) - 1]] = list(found)
            with self._lock:
                if len(self._lexemes) > LEXEME_CACHE:
                    self._lexemes.clear()
                self._lexemes.update((p, known[p]) for p in missing if p in known)
        return [known.get(p, []) for p in phrases]

    def search(
        self,
        conn: psycopg.Connection[Any],
        weighted: Sequence[tuple[str, float]],
        k: int,
        select: sql.Composable,
        where: sql.Composable,
    ) -> list[tuple[Any, ...]] | None:
        """Rows of ``select`` plus a score, ranked as described above, or ``None``: use the plain query.

        ``weighted``: ``(phrase, weight)``; a term's score is multiplied by its weight
        (a question's own words 1, its concepts' synonyms less), so one query ranks
        what would otherwise be one query per weight, merged.
        """
        freqs = self.frequencies(conn)
        if freqs is None:
            return None
        phrases = [p for p, _ in weighted]
        # A phrase with no word in it matches nothing and is dropped.
        terms = sorted(
            (
                _Term(phrase, lexemes, freqs.of(lexemes), weight, freqs.chunks)
                for (phrase, weight), lexemes in zip(weighted, self.lexemes(conn, phrases), strict=True)
                if lexemes
            ),
            key=lambda t: t.frequency,
        )
        if not terms:
            return []
        every_lexeme = sorted({lex for t in terms for lex in t.lexemes})
        best: list[tuple[float, int]] = []
        used = 0
        for budget in BUDGETS:
            # The rarest terms whose postings together stay within the budget (at least one).
            n, rows_estimate = 0, 0.0
            while n < len(terms) and (n == 0 or rows_estimate + terms[n].frequency * freqs.chunks <= budget):
                rows_estimate += terms[n].frequency * freqs.chunks
                n += 1
            if n == used:
                continue
            used = n
            # Term at a time, as a search engine walks posting lists: each chosen term scores only
            # the chunks that contain it (cheap cover density); the best few are then scored by
            # BM25 with every term, from their term frequencies and lengths.
            postings = sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT c.key, {idf} * {rank} AS s FROM chunks c WHERE c.tsv @@ {q}").format(
                    idf=sql.Literal(round(t.weight * t.idf, 4)),
                    rank=_rank(phrase_sql(t.phrase)),
                    q=phrase_sql(t.phrase),
                )
                for t in terms[:n]
            )
            query = sql.SQL(
                "WITH part AS (SELECT key, sum(s) AS s FROM ({postings}) t GROUP BY key), "
                "top AS (SELECT part.key FROM part JOIN chunks c ON c.key = part.key "
                "JOIN documents d ON d.id = c.document_id WHERE true{where} ORDER BY part.s DESC LIMIT {m}) "
                "SELECT top.key, length(c.text) + 2 * length(c.title), m.lexemes, m.tf FROM top "
                "JOIN chunks c ON c.key = top.key CROSS JOIN LATERAL ("
                # tf counts a title occurrence (weight A) twice, as FTS5's bm25(2.0, 1.0) does
                "SELECT array_agg(u.lexeme) AS lexemes, "
                "array_agg(cardinality(u.positions) + cardinality(array_positions(u.weights, 'A'))) AS tf "
                "FROM unnest(c.tsv) u WHERE u.lexeme = ANY({lexemes})) m"
            ).format(
                postings=postings,
                where=where,
                m=sql.Literal(int(k) * RESCORE_FACTOR),
                lexemes=sql.Literal(every_lexeme),
            )
            candidates = conn.execute(query).fetchall()  # (parallel workers are off for the session)
            best = _bm25(candidates, terms, freqs.mean_length)[:k]
            if len(best) >= k or n == len(terms):
                break
        if not best:
            return []
        rows = conn.execute(
            sql.SQL("SELECT c.key, {select} FROM chunks c WHERE c.key = ANY(%s)").format(select=select),
            ([key for _, key in best],),
        ).fetchall()
        by_key = {row[0]: row[1:] for row in rows}
        return [(*by_key[key], score) for score, key in best if key in by_key]


@dataclass(frozen=True)
class _Term:
    phrase: str
    lexemes: list[str]
    frequency: float  # fraction of chunks containing it (estimated from the statistics)
    weight: float
    chunks: float  # N

    @property
    def idf(self) -> float:
        # Lucene's (and bm25s') BM25 idf: positive even for a word in every chunk.
        n = self.frequency * self.chunks
        return math.log(1 + (self.chunks - n + 0.5) / (n + 0.5))


def _bm25(
    candidates: Sequence[tuple[Any, ...]], terms: Sequence[_Term], mean_length: float
) -> list[tuple[float, int]]:
    """``(score, chunk key)``, best first: Okapi BM25 over ``(key, length, lexemes, tf)`` rows.

    A phrase of several words counts as often as its least frequent word when the chunk
    holds all of them (word order is not checked here: the walked postings did check it).
    """
    scored: list[tuple[float, int]] = []
    for key, length, lexemes, tfs in candidates:
        tf_of = dict(zip(lexemes or (), tfs or (), strict=True))
        norm = BM25_K1 * (1 - BM25_B + BM25_B * float(length) / mean_length)
        score = 0.0
        for term in terms:
            tf = min((tf_of.get(lex, 0) for lex in term.lexemes), default=0)
            if tf:
                score += term.weight * term.idf * tf * (BM25_K1 + 1) / (tf + norm)
        if score > 0:
            scored.append((score, int(key)))
    scored.sort(key=lambda sk: (-sk[0], sk[1]))
    return scored


def _rank(tsquery: sql.Composable) -> sql.Composable:
    return sql.SQL("ts_rank_cd({w}::float4[], c.tsv, {q}, {norm})").format(
        w=sql.Literal(RANK_WEIGHTS), q=tsquery, norm=sql.Literal(RANK_NORMALISATION)
    )


# Shared with the plain query in postgres.py.
RANK_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"  # {D, C, B, A}: title (A) counts twice the chunk text (B)
RANK_NORMALISATION = 1  # divide by 1 + log(length): a gentle length penalty, like BM25's
