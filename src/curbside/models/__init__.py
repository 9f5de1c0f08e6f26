"""The learned scorers, shared by retrieval and the answer: their code and their numpy files.

Takes a question and sentences (or passages) and gives scores: :mod:`~curbside.models.relevance`
(does a sentence answer the question), :mod:`~curbside.models.verdicts` (yes or no, and how
surely), :mod:`~curbside.models.roles` (does it state what a list question asks for), over
:mod:`~curbside.models.logistic` model files. The ``.npz`` files beside them are the shipped
models; :mod:`curbside.training` rebuilds them.
"""
