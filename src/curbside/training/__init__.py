"""Training the learned scorers offline: expert-labelled data in, model files out.

* :mod:`~curbside.training.bioasq` -- BioASQ Task B questions, rebuilt gold documents and spans;
* :mod:`~curbside.training.scorers` -- the relevance and verdict models (``curbside train
  relevance|verdict``);
* :mod:`~curbside.training.roles` -- the answer-role model (``curbside train roles``).

Trained on BioASQ 7B-8B, selected on 9B; the files land in :mod:`curbside.models`.
"""
