"""Renderers: an :class:`~curbside.types.Article` as Markdown, HTML or JSON.

:func:`render` is the one entry point.  Formats are registered parts (kind
``renderer``) so a plugin can add one ("docx") or replace a built-in.

**Renderer convention.**  A renderer is a plain function::

    def renderer(article: Article, audience: Audience | None, verbose: bool) -> str

``audience`` (``None``: as the article is) rewords the article first with
:func:`curbside.answer.audience.adapt`; ``verbose`` adds the claims the verifier
removed (formats that always carry them, like JSON, ignore it).  Built-ins:
``md`` (:func:`~curbside.render.markdown.markdown_renderer`), ``html``
(:func:`~curbside.render.html.html_renderer`, a standalone page) and ``json``
(:func:`~curbside.render.json.json_renderer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast

from curbside.types import Article, Audience

Format = Literal["md", "html", "json"]
Renderer = Callable[[Article, Audience | None, bool], str]

__all__ = ["Format", "Renderer", "get_renderer", "render"]


def get_renderer(name: str) -> Renderer:
    """The renderer registered as ``name`` (:class:`~curbside.errors.PluginError` lists the known ones)."""
    from curbside.registry import get_registry

    return cast(Renderer, get_registry().get("renderer", name))


def render(article: Article, fmt: Format, *, audience: Audience | None = None, verbose: bool = False) -> str:
    """``article`` as text in format ``fmt`` ("md", "html" or "json"), worded for ``audience``."""
    return get_renderer(fmt)(article, audience, verbose)
