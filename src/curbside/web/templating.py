"""Page templates: the Jinja environment and :func:`render`, which every page route uses.

It sits below the app factory (:mod:`curbside.web.app`) and the page routes
(:mod:`curbside.web.pages`), so neither imports the other to draw a page.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from curbside.web.state import browser, current_user, page_csrf, state_of
from curbside.wording import count

__all__ = ["package_dir", "render", "templates"]


def package_dir(name: str) -> Path:
    """The folder ``name`` shipped inside :mod:`curbside.web` (templates, static files)."""
    return Path(str(resources.files("curbside.web").joinpath(name)))


def templates() -> Jinja2Templates:
    """The page templates; Jinja autoescaping is on for every ``.html`` template."""
    t = Jinja2Templates(directory=str(package_dir("templates")))
    assert t.env.autoescape is not False  # the default select_autoescape covers .html
    t.env.filters["counted"] = count  # {{ n|counted("claims") }} -> "1 claim", "2 claims"
    return t


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page: ``context`` plus what every page needs (the user, the CSRF token)."""
    t: Jinja2Templates = request.app.state.templates
    browser(request)  # make sure the browser cookie (and so the CSRF token) exists
    full = {
        "user": current_user(request),
        "csrf_token": page_csrf(request),
        # The ask and follow-up boxes stop where the library would refuse (one setting for every door).
        "max_question_chars": state_of(request).settings.max_question_chars,
        **context,
    }
    response: HTMLResponse = t.TemplateResponse(request, name, full, status_code=status_code, headers=headers)
    return response
