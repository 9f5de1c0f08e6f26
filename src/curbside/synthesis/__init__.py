"""Synthesis: turn retrieved evidence into an :class:`~curbside.types.Article` of cited claims."""
