"""The web app and HTTP API (extra ``web``): ``curbside serve`` runs :func:`create_app` under uvicorn.

* :mod:`curbside.web.app` -- the app factory, security headers, error mapping;
* :mod:`curbside.web.api_routes` -- the JSON API under ``/api/v1`` (docs/http-api.md);
* :mod:`curbside.web.pages` -- server-rendered pages (home, search, article, sign-in, review);
* :mod:`curbside.web.answers` -- asking and following up through the library, who may read what;
* :mod:`curbside.web.security` -- signed cookies, CSRF, Content-Security-Policy;
* :mod:`curbside.web.ratelimit` -- per-client token buckets for ask;
* :mod:`curbside.web.streaming` -- server-sent events from a worker thread;
* :mod:`curbside.web.views` -- articles and hits as pages show them.
"""

from __future__ import annotations

from curbside.web.app import create_app

__all__ = ["create_app"]
