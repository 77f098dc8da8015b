"""The pose models a job may choose: BlazePose Lite, Full and Heavy (their landmark models; the
person detector is the same for all three).

Full ships inside the pinned mediapipe wheel. Lite and Heavy are installed ahead, never
fetched at run time: `dance-analyzer models install heavy lite` takes them from the npm
registry's package `@mediapipe/pose` at its exact version (Apache-2.0), checks the tarball
against its pinned integrity and each file against its pinned SHA-256, and writes them into
the models directory (`POSE_MODELS_DIR`, default: mediapipe's own `modules/pose_landmark/`,
where its pose solution looks). The worker image runs the command at build.

Before a run uses a model, `require` checks its file (present, the pinned SHA-256): a model
missing or damaged fails with `model_unavailable` and a message naming the command that
installs it. When `POSE_MODELS_DIR` is elsewhere, the checked file is copied next to
mediapipe's own models, the only place its pose solution reads them from (so it never tries
to download one itself).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import httpx

from shared.job_options import PoseModel

NPM_REGISTRY = "https://registry.npmjs.org"
NPM_PACKAGE = "@mediapipe/pose"
NPM_VERSION = "0.5.1675469404"
# the tarball's Subresource Integrity, as the registry published it for that version
NPM_INTEGRITY = (
    "sha512-DFZsNWTsSphRIZppnUCuunzBiHP2FdJXR9ehc7mMi4KG+oPaOH0Em3d6kr7Py+TSyTXC1doH88K"
    "cF28k2sBxsQ=="
)
MAX_TARBALL_BYTES = 64 * 1024 * 1024  # the package is 41 MB
DOWNLOAD_TIMEOUT_S = 300.0


class ModelUnavailable(Exception):
    """The model a run asked for is not installed here (or its file is damaged)."""

    code = "model_unavailable"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PoseModelFile:
    name: PoseModel
    complexity: int  # mediapipe's `model_complexity`
    file_name: str  # the landmark model, in the npm package and in mediapipe's modules
    sha256: str
    in_wheel: bool  # shipped by the mediapipe wheel: nothing to install


MODELS: dict[str, PoseModelFile] = {
    "lite": PoseModelFile(
        "lite",
        0,
        "pose_landmark_lite.tflite",
        "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
        in_wheel=False,
    ),
    "full": PoseModelFile(
        "full",
        1,
        "pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        in_wheel=True,
    ),
    "heavy": PoseModelFile(
        "heavy",
        2,
        "pose_landmark_heavy.tflite",
        "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
        in_wheel=False,
    ),
}
if tuple(MODELS) != get_args(PoseModel):
    raise ImportError("MODELS and PoseModel disagree")


def mediapipe_dir() -> Path:
    """Where mediapipe's pose solution reads its landmark models."""
    import mediapipe

    return Path(mediapipe.__file__).resolve().parent / "modules" / "pose_landmark"


def models_dir() -> Path:
    """Where `install` writes the models and `require` looks for them."""
    from shared.config import settings

    return Path(settings.POSE_MODELS_DIR) if settings.POSE_MODELS_DIR else mediapipe_dir()


def install_command(*names: str) -> str:
    return f"dance-analyzer models install {' '.join(names)}"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, model: PoseModelFile) -> bool:
    return path.is_file() and sha256_of(path) == model.sha256


def installed() -> list[str]:
    """The models this machine can run, in the order lite, full, heavy."""
    return [name for name, model in MODELS.items() if _available(model)]


def _available(model: PoseModelFile) -> bool:
    if model.in_wheel:
        return _checked(mediapipe_dir() / model.file_name, model)
    return _checked(models_dir() / model.file_name, model)


def require(name: str) -> PoseModelFile:
    """The model, checked and where mediapipe reads it; ModelUnavailable otherwise."""
    model = MODELS.get(name)
    if model is None:
        raise ModelUnavailable(f"unknown pose model {name!r}; known: {', '.join(MODELS)}")
    if model.in_wheel:
        if not _checked(mediapipe_dir() / model.file_name, model):
            raise ModelUnavailable(f"the {name} pose model of the mediapipe wheel is damaged")
        return model
    source = models_dir() / model.file_name
    if not source.is_file():
        raise ModelUnavailable(
            f"the {name} pose model is not installed on this worker; "
            f"`{install_command(name)}` installs it"
        )
    if sha256_of(source) != model.sha256:
        raise ModelUnavailable(
            f"the {name} pose model at {source} is damaged (SHA-256 mismatch); "
            f"`{install_command(name)}` installs it again"
        )
    target = mediapipe_dir() / model.file_name
    if source.resolve() != target.resolve() and not _checked(target, model):
        try:
            _write_atomically(target, source.read_bytes())
        except OSError as exc:
            raise ModelUnavailable(
                f"the {name} pose model cannot be put where mediapipe reads it ({exc})"
            ) from None
    return model


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(target)


class InstallError(Exception):
    """The models could not be installed: the registry, the tarball or a file was wrong."""


def _integrity_ok(data: bytes, integrity: str) -> bool:
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256"):
        return False
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == expected


def install(
    names: list[str],
    *,
    registry: str = NPM_REGISTRY,
    integrity: str = NPM_INTEGRITY,
    models: dict[str, PoseModelFile] = MODELS,
    target: Path | None = None,
) -> list[Path]:
    """Fetch `@mediapipe/pose@NPM_VERSION` from `registry`, check it, and write the landmark
    models `names` into `target` (default: `models_dir()`); the paths written. Models the
    wheel ships need nothing. Raises InstallError; nothing is written unless every check
    passes."""
    wanted = [models[name] for name in dict.fromkeys(names) if not models[name].in_wheel]
    if not wanted:
        return []
    url = f"{registry.rstrip('/')}/{NPM_PACKAGE.replace('/', '%2f')}/{NPM_VERSION}"
    try:
        with httpx.Client(timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True) as client:
            meta = client.get(url)
            meta.raise_for_status()
            dist = meta.json()["dist"]
            if dist.get("integrity") != integrity:
                raise InstallError(
                    f"{NPM_PACKAGE}@{NPM_VERSION}: the registry's integrity "
                    f"{dist.get('integrity')!r} is not the pinned {integrity!r}"
                )
            data = _download(client, dist["tarball"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise InstallError(f"{url}: {type(exc).__name__}: {exc}") from None
    if not _integrity_ok(data, integrity):
        raise InstallError(f"{NPM_PACKAGE}@{NPM_VERSION}: the tarball fails its integrity check")
    files = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for model in wanted:
                member = archive.extractfile(f"package/{model.file_name}")
                if member is None:
                    raise KeyError(model.file_name)
                files[model] = member.read()
    except (tarfile.TarError, KeyError) as exc:
        raise InstallError(f"{NPM_PACKAGE}@{NPM_VERSION}: no {exc} in the tarball") from None
    for model, content in files.items():
        if hashlib.sha256(content).hexdigest() != model.sha256:
            raise InstallError(f"{model.file_name}: SHA-256 is not the pinned {model.sha256}")
    folder = target or models_dir()
    written = []
    for model, content in files.items():
        _write_atomically(folder / model.file_name, content)
        written.append(folder / model.file_name)
    return written


def _download(client: httpx.Client, url: str) -> bytes:
    chunks, size = [], 0
    with client.stream("GET", url) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_TARBALL_BYTES:
                raise InstallError(f"{url}: larger than {MAX_TARBALL_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks)
