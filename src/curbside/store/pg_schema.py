"""Schema of the PostgreSQL store: named, append-only migrations (the SQLite store's story).

Never edit or reorder an applied migration; add a new one.  Each runs in its own
transaction under an advisory lock, so several processes (parallel ingest
workers, a web server) opening a fresh database at once migrate it exactly once.
"""

from __future__ import annotations

# Any constant works; it only has to be the same in every curbside process.
MIGRATION_LOCK = 0x637572627369  # "curbsi"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_documents",
        """
        CREATE TABLE documents (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            year INTEGER,
            journal TEXT,
            pmid TEXT,
            doi TEXT,
            retracted BOOLEAN NOT NULL DEFAULT false,
            has_abstract BOOLEAN NOT NULL DEFAULT false,
            -- lowercased for the filter; the record's own spelling stays in data
            publication_types TEXT[] NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            -- the normalised record as JSON text (not jsonb: text round-trips exactly)
            data TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX documents_pmid ON documents(pmid);
        CREATE INDEX documents_doi ON documents(doi);
        CREATE INDEX documents_year ON documents(year);
        -- English stemming without a stop-word list, like FTS5's porter tokenizer: "vitamin A",
        -- "hepatitis A" and phrases such as "after surgery" keep every word.
        CREATE TEXT SEARCH DICTIONARY curbside_english_stem (TEMPLATE = snowball, Language = english);
        CREATE TEXT SEARCH CONFIGURATION curbside_english (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION curbside_english ALTER MAPPING
            FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH curbside_english_stem;
        CREATE TABLE chunks (
            key BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            section TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            -- title weighted A, text B: ts_rank_cd weighs a title match twice a text match,
            -- as the SQLite store's bm25(chunks_fts, 2.0, 1.0) does
            tsv TSVECTOR GENERATED ALWAYS AS (
                setweight(to_tsvector('curbside_english'::regconfig, title), 'A')
                || setweight(to_tsvector('curbside_english'::regconfig, text), 'B')
            ) STORED,
            UNIQUE (document_id, ordinal)
        );
        CREATE INDEX chunks_tsv ON chunks USING gin (tsv)
        """,
    ),
    (
        "0002_ingest_bookkeeping",
        """
        CREATE TABLE ingest_files (
            key TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            source_type TEXT NOT NULL,
            records_done BIGINT NOT NULL DEFAULT 0,
            documents BIGINT NOT NULL DEFAULT 0,
            deletions BIGINT NOT NULL DEFAULT 0,
            malformed BIGINT NOT NULL DEFAULT 0,
            completed BOOLEAN NOT NULL DEFAULT false,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION
        );
        CREATE TABLE ingest_runs (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            inputs TEXT NOT NULL,
            inserted BIGINT NOT NULL,
            updated BIGINT NOT NULL,
            unchanged BIGINT NOT NULL,
            deleted BIGINT NOT NULL,
            seconds DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE problems (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            file_key TEXT NOT NULL,
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            message TEXT NOT NULL,
            UNIQUE (file_key, position)
        )
        """,
    ),
    (
        "0003_vectors",
        """
        CREATE EXTENSION IF NOT EXISTS vector;
        -- One row per embedding model: its dimension and the HNSW index built for it.
        -- The vector column is dimensionless so that models of any size share one table;
        -- each model's partial HNSW index casts to its fixed dimension.
        CREATE TABLE vector_models (
            model TEXT PRIMARY KEY,
            dims INTEGER NOT NULL,
            index_name TEXT NOT NULL
        );
        CREATE TABLE chunk_vectors (
            model TEXT NOT NULL REFERENCES vector_models(model),
            chunk_key BIGINT NOT NULL REFERENCES chunks(key) ON DELETE CASCADE,
            embedding vector NOT NULL,
            PRIMARY KEY (model, chunk_key)
        );
        CREATE INDEX chunk_vectors_chunk ON chunk_vectors(chunk_key)
        """,
    ),
    (
        "0004_lexeme_statistics",
        """
        -- ANALYZE keeps the 10 x target most common lexemes of a tsvector column with their
        -- frequencies; full-text ranking reads them as document frequencies (see pg_rank).
        -- 1000 tracks ~10,000 lexemes, down to ~0.1% of chunks.
        ALTER TABLE chunks ALTER COLUMN tsv SET STATISTICS 1000
        """,
    ),
]


def statements(script: str) -> list[str]:
    """Split a migration on ';' at line ends (our migrations hold no such string literals)."""
    return [s.strip() for s in script.split(";\n") if s.strip()]
