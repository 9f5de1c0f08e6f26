"""Schema of the SQLite store: named, append-only migrations, applied in order by
:meth:`curbside.store.sqlite.SQLiteStore.migrate` and recorded in its ``migrations`` table."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

# Append only: never edit or reorder an applied migration; add a new one.
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
            retracted INTEGER NOT NULL DEFAULT 0,
            has_abstract INTEGER NOT NULL DEFAULT 0,
            publication_types TEXT NOT NULL DEFAULT '[]',
            content_hash TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX documents_pmid ON documents(pmid);
        CREATE INDEX documents_doi ON documents(doi);
        CREATE INDEX documents_year ON documents(year);
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY,
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            section TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            UNIQUE(document_id, ordinal)
        );
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            title, text, content='chunks', content_rowid='rowid',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        """,
    ),
    (
        "0002_ingest_bookkeeping",
        """
        CREATE TABLE ingest_files (
            key TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            source_type TEXT NOT NULL,
            records_done INTEGER NOT NULL DEFAULT 0,
            documents INTEGER NOT NULL DEFAULT 0,
            deletions INTEGER NOT NULL DEFAULT 0,
            malformed INTEGER NOT NULL DEFAULT 0,
            completed INTEGER NOT NULL DEFAULT 0,
            started_at REAL NOT NULL,
            finished_at REAL
        );
        CREATE TABLE ingest_runs (
            id INTEGER PRIMARY KEY,
            inputs TEXT NOT NULL,
            inserted INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            unchanged INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            seconds REAL NOT NULL,
            finished_at REAL NOT NULL
        );
        CREATE TABLE problems (
            id INTEGER PRIMARY KEY,
            file_key TEXT NOT NULL,
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            message TEXT NOT NULL,
            UNIQUE(file_key, position)
        );
        """,
    ),
    (
        "0003_vectors",
        """
        CREATE TABLE chunk_vectors (
            model TEXT NOT NULL,
            chunk_rowid INTEGER NOT NULL REFERENCES chunks(rowid) ON DELETE CASCADE,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, chunk_rowid)
        ) WITHOUT ROWID;
        CREATE INDEX chunk_vectors_chunk ON chunk_vectors(chunk_rowid);
        CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO store_meta VALUES ('vector_generation', '0');
        """,
    ),
]
