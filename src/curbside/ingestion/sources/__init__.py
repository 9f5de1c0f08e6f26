"""Sources: one module per format or service, each streaming :class:`~curbside.types.Document`.

The ``Source`` protocol is in :mod:`~curbside.ingestion.sources.base`; file formats (``medline``,
``jats``, ``guidelines``, ``jsonl``) and search services (``eutils``, ``europepmc``) are
registered parts of kind ``source``.
"""
