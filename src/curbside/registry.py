"""The plugin registry.

Every pluggable part (source, embedder, store, reranker, synthesizer, chat
backend, renderer) is registered under a name.  Built-ins come in through the
same door as third-party plugins: a module exposing ``register(registry)``,
listed under the ``curbside.plugins`` entry-point group (the built-ins are
``curbside.builtins``).

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."curbside.plugins"]
    myplugin = "myplugin.curbside_plugin"

and its module defines ``def register(registry): registry.add("source", "mine", factory)``.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Literal

from curbside.errors import PluginError

Kind = Literal["source", "embedder", "store", "search", "reranker", "synthesizer", "chat", "renderer"]
KINDS: tuple[Kind, ...] = (
    "source",
    "embedder",
    "store",
    "search",
    "reranker",
    "synthesizer",
    "chat",
    "renderer",
)
ENTRY_POINT_GROUP = "curbside.plugins"


class Registry:
    """Name -> factory maps, one per kind of part."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
        self.loaded_plugins: list[str] = []

    def add(self, kind: Kind, name: str, factory: Any) -> None:
        """Register ``factory`` as ``name``; a later registration of the same name wins (plugins may override)."""
        if kind not in self._parts:
            raise PluginError(f"unknown plugin kind {kind!r}; known kinds: {', '.join(KINDS)}")
        self._parts[kind][name] = factory

    def get(self, kind: Kind, name: str) -> Any:
        try:
            return self._parts[kind][name]
        except KeyError:
            known = ", ".join(sorted(self._parts.get(kind, {}))) or "none"
            raise PluginError(f"no {kind} named {name!r}; available: {known}") from None

    def names(self, kind: Kind) -> list[str]:
        return sorted(self._parts[kind])

    def items(self, kind: Kind) -> list[tuple[str, Any]]:
        return sorted(self._parts[kind].items())

    def load(self, module_name: str) -> None:
        """Import ``module_name`` and call its ``register(self)``."""
        try:
            module = importlib.import_module(module_name)
            hook: Callable[[Registry], None] = module.register
        except Exception as exc:  # a broken plugin must not hide behind a traceback
            raise PluginError(f"plugin {module_name!r} failed to load: {exc}") from exc
        hook(self)
        self.loaded_plugins.append(module_name)


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry: built-ins first, then installed plugins in name order."""
    global _registry
    with _lock:
        if _registry is None:
            reg = Registry()
            reg.load("curbside.builtins")
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                if ep.value != "curbside.builtins":
                    reg.load(ep.value)
            _registry = reg
        return _registry
