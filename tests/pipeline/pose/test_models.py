"""The pose models (`pipeline/pose/models.py`): installed ahead from the npm registry with the
pinned tarball integrity and file hashes, refused when missing or damaged with the command
that installs them, and each one finding the person in the test footage.

The installs from a fake registry (a local HTTP server) prove every refusal; one session
fixture installs Lite and Heavy from the real npm registry (it is reachable in CI; elsewhere
without it those tests skip, saying why)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from pipeline.pose import models
from pipeline.pose.bundle import BUNDLE_SHA256, bundle_path
from pipeline.pose.models import sha256_of
from pipeline.runner import PipelineOptions, analyze_video
from pipeline.video.samples import DUO, make_clip
from shared.config import settings
from tests.fixtures_http import Reply, WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class FakeRegistry:
    """An npm registry on loopback (the recording HTTP server of `tests.fixtures_http`): each
    `serve` answers one install, the version's metadata and then its tarball."""

    receiver: WebhookReceiver
    data: bytes

    @property
    def url(self) -> str:
        return self.receiver.url.removesuffix("/hooks")

    @property
    def integrity(self) -> str:
        return integrity_of(self.data)

    def serve(self, tarball: bytes | None = None) -> None:
        dist = {"integrity": self.integrity, "tarball": f"{self.url}/p.tgz"}
        self.receiver.respond_with(
            Reply(200, {"content-type": "application/json"}, json.dumps({"dist": dist}).encode()),
            Reply(200, {"content-type": "application/octet-stream"}, tarball or self.data),
        )


@pytest.fixture
def empty_models(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setattr(settings, "POSE_MODELS_DIR", str(folder))
    return folder


FAKE = b"not really a landmark model"
FAKE_HEAVY = replace(models.MODELS["heavy"], sha256=hashlib.sha256(FAKE).hexdigest())


@pytest.fixture
def registry(webhook_receiver) -> FakeRegistry:
    served = tarball({"pose_landmark_heavy.tflite": FAKE, "README.md": b"readme"})
    return FakeRegistry(webhook_receiver, served)


def test_a_model_not_installed_is_refused_with_the_command_that_installs_it(empty_models):
    with pytest.raises(models.ModelUnavailable, match="dance-analyzer models install heavy"):
        models.require("heavy")
    assert models.require("full").complexity == 1  # in the wheel: always there
    assert "heavy" not in models.installed() and "full" in models.installed()


def test_a_damaged_model_file_is_refused(empty_models):
    (empty_models / "pose_landmark_lite.tflite").write_bytes(b"half a model")
    with pytest.raises(models.ModelUnavailable, match="damaged"):
        models.require("lite")


def test_an_unknown_model_is_refused():
    with pytest.raises(models.ModelUnavailable, match="unknown pose model 'ultra'"):
        models.require("ultra")


def test_install_writes_the_files_that_pass_every_check(registry, tmp_path):
    registry.serve()
    written = models.install(
        ["heavy", "full"],
        registry=registry.url,
        integrity=registry.integrity,
        models={**models.MODELS, "heavy": FAKE_HEAVY},
        target=tmp_path,
    )
    assert written == [tmp_path / "pose_landmark_heavy.tflite"]  # full ships with the wheel
    assert written[0].read_bytes() == FAKE


def test_a_file_whose_hash_is_not_the_pinned_one_is_refused_and_nothing_written(registry, tmp_path):
    registry.serve()
    with pytest.raises(models.InstallError, match="SHA-256 is not the pinned"):
        models.install(
            ["heavy"], registry=registry.url, integrity=registry.integrity, target=tmp_path
        )
    assert list(tmp_path.iterdir()) == []


def test_a_registry_publishing_another_integrity_is_refused(registry, tmp_path):
    registry.serve()
    with pytest.raises(models.InstallError, match="is not the pinned"):
        models.install(["heavy"], registry=registry.url, target=tmp_path)  # the real pin
    assert list(tmp_path.iterdir()) == []


def test_a_tarball_that_fails_its_integrity_is_refused(registry, tmp_path):
    registry.serve(registry.data[:-10] + b"0123456789")  # altered on the way
    with pytest.raises(models.InstallError, match="integrity"):
        models.install(
            ["heavy"],
            registry=registry.url,
            integrity=registry.integrity,
            models={**models.MODELS, "heavy": FAKE_HEAVY},
            target=tmp_path,
        )
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_registry_is_a_clear_error(tmp_path):
    with pytest.raises(models.InstallError, match="ConnectError"):
        models.install(["lite"], registry="http://127.0.0.1:9", target=tmp_path)


def test_the_cli_names_the_missing_model_and_exits_as_for_bad_input(empty_models, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=4, fps=15)
    env = {**os.environ, "POSE_MODELS_DIR": str(empty_models)}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "analyze", clip, "--out", tmp_path / "out"]
        + ["--model", "heavy", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "model_unavailable" in done.stderr
    assert "dance-analyzer models install heavy" in done.stderr
    assert not (tmp_path / "out" / "annotated.mp4").exists()


def _npm_reachable() -> bool:
    try:
        return httpx.head(models.NPM_REGISTRY, timeout=10).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def npm_models(tmp_path_factory) -> Path:
    """Lite and Heavy installed from the real npm registry into a folder of their own."""
    if not _npm_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail("the npm registry is unreachable")
        pytest.skip("the npm registry is unreachable: Lite and Heavy cannot be installed")
    folder = tmp_path_factory.mktemp("npm-models")
    written = models.install(["lite", "heavy"], target=folder)
    assert sorted(path.name for path in written) == [
        "pose_landmark_heavy.tflite",
        "pose_landmark_lite.tflite",
    ]
    return folder


@pytest.mark.parametrize("model", ["lite", "full", "heavy"])
def test_each_model_finds_the_dancer_and_says_it_made_the_landmarks(
    npm_models, model, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings, "POSE_MODELS_DIR", str(npm_models))
    clip = make_clip(tmp_path / "clip.mp4", frames=10, fps=15)
    result = analyze_video(clip, tmp_path / "out", PipelineOptions(model=model, analysis=None))
    assert result.metrics["detection_rate"] == 1.0
    assert result.metrics["model"] == model
    keypoints = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert keypoints["model"] == model


@pytest.mark.parametrize("model", ["lite", "heavy"])
def test_several_dancers_with_each_model_from_its_own_bundle(
    npm_models, model, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings, "POSE_MODELS_DIR", str(npm_models))
    assert sha256_of(bundle_path(tmp_path / "cache", model=model)) == BUNDLE_SHA256[model]
    clip = make_clip(tmp_path / "duo.mp4", frames=8, fps=15, width=640, height=240, person=DUO)
    options = PipelineOptions(model=model, max_people=2, analysis=None, exports=())
    result = analyze_video(clip, tmp_path / "out", options)
    assert result.metrics["people_found"] == 2
    assert result.metrics["model"] == model


def test_the_install_command_refuses_a_registry_that_serves_something_else(registry, tmp_path):
    """`dance-analyzer models install`, as the worker image runs it at build."""
    registry.serve()
    env = {**os.environ, "POSE_MODELS_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "cli.main", "models"]
    done = subprocess.run(
        [*command, "install", "heavy", "--registry", registry.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "is not the pinned" in done.stderr
    listed = subprocess.run(
        [*command, "list", "--json"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert json.loads(listed.stdout) == {"installed": ["full"], "known": ["lite", "full", "heavy"]}
