"""Built-in parts, registered through the same ``register`` hook a third-party plugin uses."""

from __future__ import annotations

from curbside.registry import Registry


def register(registry: Registry) -> None:
    # Imports stay inside the hook so that importing curbside stays cheap.
    # --- sources (one line each) ---
