"""Stage 1, ingest: records in, a filled store out.

Takes files (MEDLINE XML, PMC JATS, guidelines, JSON Lines) or live searches (E-utilities,
Europe PMC) and gives :class:`~curbside.types.Document` rows, their chunks and their vectors in a
:class:`~curbside.store.base.Store`.

* :mod:`~curbside.ingestion.sources` -- one module per format or service, each streaming documents;
* :mod:`~curbside.ingestion.chunking` -- section-aware chunks and sentence splitting;
* :mod:`~curbside.ingestion.screening` -- text addressed to a language model, flagged before it is cited;
* :mod:`~curbside.ingestion.pipeline` -- batches into a store, idempotent and resumable (one process);
* :mod:`~curbside.ingestion.bulk` and :mod:`~curbside.ingestion.distributed` -- the same in worker
  processes or as Ray Data pipelines;
* :mod:`~curbside.ingestion.run` -- picks one of the three for an ingest;
* :mod:`~curbside.ingestion.indexing` -- vectors for the chunks that have none (``curbside index``);
* :mod:`~curbside.ingestion.live` -- PubMed records fetched for a question the store cannot answer.
"""
