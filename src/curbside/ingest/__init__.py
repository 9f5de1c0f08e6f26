"""Stage 1, ingest: records in, a filled store out.

Takes files (MEDLINE XML, PMC JATS, guidelines, JSON Lines) or live searches (E-utilities,
Europe PMC) and gives :class:`~curbside.types.Document` rows, their chunks and their vectors in a
:class:`~curbside.store.base.Store`.

* :mod:`~curbside.ingest.sources` -- one module per format or service, each streaming documents;
* :mod:`~curbside.ingest.chunking` -- section-aware chunks and sentence splitting;
* :mod:`~curbside.ingest.screening` -- text addressed to a language model, flagged before it is cited;
* :mod:`~curbside.ingest.pipeline` -- batches into a store, idempotent and resumable (one process);
* :mod:`~curbside.ingest.bulk` and :mod:`~curbside.ingest.distributed` -- the same in worker
  processes or as Ray Data pipelines;
* :mod:`~curbside.ingest.run` -- picks one of the three for an ingest;
* :mod:`~curbside.ingest.indexing` -- vectors for the chunks that have none (``curbside index``);
* :mod:`~curbside.ingest.live` -- PubMed records fetched for a question the store cannot answer.
"""
