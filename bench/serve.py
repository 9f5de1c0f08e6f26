"""Benchmark: the web app under concurrent load on loopback.

Builds (once, cached under bench/out/serve/) a store from the shared MEDLINE
files, starts ``curbside serve`` on a free 127.0.0.1 port, asks one question
and approves its article, then measures, each scenario bounded by a request
count *and* a time limit:

* ``search``         GET /api/v1/search over rotating questions (BM25, or hybrid with --embedder);
* ``article-page``   GET /articles/<slug>, the approved page a signed-out reader sees (rendering cached);
* ``article-json``   GET /api/v1/articles/<slug> (cached article JSON);
* ``ask-stream``     POST /api/v1/ask/stream: time to the first event, the first content (bottom
  line, section, or model token with the llm synthesizer) and the end of the answer.

Prints a table, then one JSON line with every number.  Traffic goes to
127.0.0.1 only, and the server is stopped at the end.

    flock /tmp/curbside-bench.lock .venv/bin/python bench/serve.py [--concurrency 8]
        [--requests 400] [--seconds 20] [--asks 12] [--limit 5000] [--embedder fake]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from curbside import api
from curbside.cli.demo import slice_pubmed_file
from curbside.config import Settings, shared_data_dir

OUT = Path(__file__).parent / "out" / "serve"
QUESTIONS = [
    "What are the causes of leukopenia?",
    "How is hypertension treated?",
    "What causes neutropenia in children?",
    "Does smoking cause oral cancer?",
    "How is iron deficiency anaemia diagnosed?",
    "What is the prognosis of acute myeloid leukemia?",
    "What are the side effects of methotrexate?",
    "How is asthma treated in adults?",
]
PASSWORD = "bench-password-1"


def build_store(limit: int, embedder: str | None) -> Settings:
    """A store from the first ``limit`` records of each shared MEDLINE file (cached between runs)."""
    data = shared_data_dir()
    if data is None:
        sys.exit("shared data not found (set CURBSIDE_SHARED_DATA or place it at ../shared/data)")
    folder = OUT / f"store-{limit}-{embedder or 'bm25'}"
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        db=str(folder / "store.db"),
        data_dir=folder / "data",
        cache_dir=folder / "cache",
        embedder=embedder or "fake",
    )
    if not (folder / "built").exists():
        started = time.perf_counter()
        files = sorted((data / "medline").glob("*.xml.gz"))
        slices = [slice_pubmed_file(f, folder / f"slice-{f.name}", limit) for f in files]
        api.ingest(slices, settings=settings)
        if embedder:
            api.index(settings=settings)
        api.add_user("bench-reviewer", PASSWORD, "reviewer", settings=settings)
        (folder / "built").write_text(f"{time.perf_counter() - started:.1f}\n")
    return settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CURBSIDE_DB": settings.db,
        "CURBSIDE_DATA_DIR": str(settings.data_dir),
        "CURBSIDE_CACHE_DIR": str(settings.cache_dir),
        "CURBSIDE_EMBEDDER": settings.embedder,
        # The bench is one client asking on purpose: lift the per-client ask limit.
        # All the load comes from one address: the per-client limits would turn it into 429s.
        # Every other limit (body size, request-head timeout, trusted hosts, cross-site checks,
        # sign-in limits) stays at its default, so the figures include their cost.
        "CURBSIDE_WEB_ASK_RATE": "100000",
        "CURBSIDE_WEB_ASK_BURST": "100000",
        "CURBSIDE_WEB_SEARCH_RATE": "100000",
    }
    cmd = [sys.executable, "-m", "curbside", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("curbside serve did not start")
        time.sleep(0.2)


def prepare(base: str) -> str:
    """Ask one question and approve its article; returns its slug (what readers open)."""
    with httpx.Client(base_url=base, timeout=300) as c:
        answer = c.post("/api/v1/ask", json={"question": QUESTIONS[0]}).json()
        c.cookies.clear()  # act as an API client: bearer token, no cookies (so no CSRF token needed)
        token = c.post("/api/v1/session", json={"username": "bench-reviewer", "password": PASSWORD}).json()[
            "token"
        ]
        c.cookies.clear()
        if answer["status"] == "approved":  # the cached store already holds this answer, approved
            return str(answer["slug"])
        approved = c.post(
            f"/api/v1/articles/{answer['article_id']}/review",
            json={"action": "approve"},
            headers={"Authorization": f"Bearer {token}"},
        )
        approved.raise_for_status()
        slug: str = answer["slug"]
        return slug


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def load(
    name: str,
    request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    base: str,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> dict[str, Any]:
    """Run ``request`` from ``concurrency`` workers until ``max_requests`` are done or time runs out."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal issued, errors
            while issued < max_requests and time.perf_counter() - started < max_seconds:
                i = issued
                issued += 1
                t = time.perf_counter()
                try:
                    r = await request(client, i)
                    if r.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "scenario": name,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": _round(percentile(latencies, 0.50)),
        "p95_ms": _round(percentile(latencies, 0.95)),
    }


async def ask_stream(base: str, asks: int, max_seconds: float) -> dict[str, Any]:
    """Sequential streamed asks: time to the first event, first section and the end of the stream."""
    first_event: list[float] = []
    first_section: list[float] = []
    total: list[float] = []
    errors = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for i in range(asks):
            if time.perf_counter() - started > max_seconds:
                break
            # A repeated question runs the whole pipeline again (only an unchanged answer is not re-saved).
            question = QUESTIONS[i % len(QUESTIONS)]
            t = time.perf_counter()
            seen_event = seen_section = False
            async with client.stream("POST", "/api/v1/ask/stream", json={"question": question}) as r:
                if r.status_code != 200:
                    errors += 1
                    continue
                async for line in r.aiter_lines():
                    now = (time.perf_counter() - t) * 1000
                    if line.startswith("event: ") and not seen_event:
                        seen_event = True
                        first_event.append(now)
                    if line in ("event: bottom_line", "event: section", "event: token") and not seen_section:
                        seen_section = True
                        first_section.append(now)
                    if line == "event: error":
                        errors += 1
            total.append((time.perf_counter() - t) * 1000)
            client.cookies.clear()
    return {
        "scenario": "ask-stream",
        "requests": len(total),
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 2),
        "first_event_p50_ms": _round(percentile(first_event, 0.50)),
        "first_event_p95_ms": _round(percentile(first_event, 0.95)),
        "first_content_p50_ms": _round(percentile(first_section, 0.50)),
        "first_content_p95_ms": _round(percentile(first_section, 0.95)),
        "total_p50_ms": _round(percentile(total, 0.50)),
        "total_p95_ms": _round(percentile(total, 0.95)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400, help="Most requests per load scenario.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Most seconds per scenario.")
    parser.add_argument("--asks", type=int, default=12, help="Most streamed asks.")
    parser.add_argument("--limit", type=int, default=5000, help="Records taken from each MEDLINE file.")
    parser.add_argument(
        "--embedder", default=None, help="Embed the store with this embedder (hybrid search)."
    )
    args = parser.parse_args()

    settings = build_store(args.limit, args.embedder)
    stats = api.stats(settings=settings)
    port = free_port()
    proc = start_server(settings, port)
    base = f"http://127.0.0.1:{port}"
    try:
        slug = prepare(base)
        bounds = {"concurrency": args.concurrency, "max_requests": args.requests, "max_seconds": args.seconds}

        async def run() -> list[dict[str, Any]]:
            def search(c: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
                return c.get("/api/v1/search", params={"q": QUESTIONS[i % len(QUESTIONS)], "k": 10})

            def page(c: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
                return c.get(f"/articles/{slug}", headers={"Accept": "text/html"})

            def article(c: httpx.AsyncClient, i: int) -> Awaitable[httpx.Response]:
                return c.get(f"/api/v1/articles/{slug}")

            out = [
                await load("search", search, base, **bounds),  # type: ignore[arg-type]
                await load("article-page", page, base, **bounds),  # type: ignore[arg-type]
                await load("article-json", article, base, **bounds),  # type: ignore[arg-type]
            ]
            out.append(await ask_stream(base, args.asks, args.seconds * 3))
            return out

        results = asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(
        f"store: {stats.documents:,} documents, {stats.chunks:,} chunks; embedded: {stats.embedded or 'none'}"
    )
    print(
        f"concurrency {args.concurrency}, at most {args.requests} requests / {args.seconds:g} s per scenario"
    )
    print(f"{'scenario':<14}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}")
    for r in results[:3]:
        print(
            f"{r['scenario']:<14}{r['requests']:>9}{r['errors']:>8}{r['rps']:>9}{r['p50_ms']:>9}{r['p95_ms']:>9}"
        )
    a = results[3]
    print(
        f"ask-stream: {a['requests']} asks, {a['errors']} errors; first event p50 {a['first_event_p50_ms']} ms "
        f"(p95 {a['first_event_p95_ms']}), first content (bottom line, section or token) p50 "
        f"{a['first_content_p50_ms']} ms (p95 {a['first_content_p95_ms']}), whole answer p50 {a['total_p50_ms']} ms (p95 {a['total_p95_ms']})"
    )
    print(
        json.dumps(
            {
                "bench": "serve",
                "documents": stats.documents,
                "chunks": stats.chunks,
                "embedder": args.embedder,
                "concurrency": args.concurrency,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
