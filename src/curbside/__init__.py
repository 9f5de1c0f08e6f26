"""curbside: structured, claim-verified, cited answers to clinical questions."""

from __future__ import annotations

__version__ = "0.1.0"
