"""Test doubles shipped as public API, so plugin authors can test against them too.

Each is a working implementation of a curbside protocol that needs no network
and no model files: a recorded E-utilities transport, a fake embedder, a fake
language model.
"""

from __future__ import annotations
