"""Stage 3, the answer: ranked evidence in, a verified :class:`~curbside.types.Article` out.

* the ``Synthesizer`` contract and what every synthesizer's output goes through: :mod:`.base`;
* the extractive synthesizer (default): :mod:`.extractive`, fed by :mod:`.sentences` (candidate
  sentences) and :mod:`.scoring` (the learned models' scores), laid out by :mod:`.plans`
  (section plans) and :mod:`.placement` (which section a sentence belongs in), with
  :mod:`.causes` (cause categories), :mod:`.yesno`, :mod:`.arms` and :mod:`.valence`
  (verdict cues) and :mod:`.bottomline` (the composed bottom line);
* language models: :mod:`.llm` (the ``llm`` synthesizer), :mod:`.compose` and :mod:`.faithful`
  (prose from verified claims), :mod:`.backends` (chat clients) and ``prompts/``;
* checking and wording: :mod:`.context` (what a quote needs to stand alone), :mod:`.verify`
  (every claim against its cited span, in context) and :mod:`.audience` (clinician, student,
  patient).
"""
