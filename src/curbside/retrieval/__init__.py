"""Stage 2, retrieval: a question and a store in, ranked evidence out.

Takes the question's text and gives a :class:`~curbside.types.Query` (type, concepts, subject,
facets) and the :class:`~curbside.types.Hit` list that answers it.

* understanding the question: :mod:`~curbside.retrieval.questions` (type, concepts, search
  expressions, follow-ups), :mod:`~curbside.retrieval.vocabulary` (MeSH and built-in terms,
  spellings), :mod:`~curbside.retrieval.subject` (what it is about),
  :mod:`~curbside.retrieval.intent` (the clinical intent and its title),
  :mod:`~curbside.retrieval.facets` (sub-queries per section),
  :mod:`~curbside.retrieval.privacy` (identifying details removed);
* ranking: :mod:`~curbside.retrieval.embeddings` (the ``Embedder`` contract),
  :mod:`~curbside.retrieval.retrieve` (BM25 + dense, fused), :mod:`~curbside.retrieval.rerank`,
  :mod:`~curbside.retrieval.evidence` (evidence level and age);
* measuring: :mod:`~curbside.retrieval.evaluation` (nDCG, recall, MRR).
"""
