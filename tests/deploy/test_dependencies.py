"""What each part installs: the gateway no video library, the worker one OpenCV, and the
lock files (what the images, CI and the README's commands install) agree with pyproject.toml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.files import ROOT

VIDEO = {"mediapipe", "av", "opencv-python", "opencv-python-headless", "opencv-contrib-python"}
VIDEO |= {"scikit-image", "numpy", "scipy", "jax", "jaxlib", "matplotlib"}
OPENCV = re.compile(r"^opencv-")
CLIENT_ONLY = {
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
}
LEFT_OUT = {"opencv-contrib-python", "jax", "jaxlib", "sounddevice"}  # overrides.txt


def locked(name: str) -> dict[str, str]:
    """A lock file's pins: canonical name -> version."""
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    return {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.MULTILINE)
    }


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_pip_installs_the_gateway_without_any_video_library(tmp_path):
    """`pip install '.[api]'` in a fresh virtual environment, resolved for real (dry run)."""
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True, timeout=120)
    pip = tmp_path / "venv" / "bin" / "pip"
    report = tmp_path / "report.json"
    done = subprocess.run(
        [pip, "install", "--quiet", "--dry-run", "--report", report, f"{ROOT}[api]"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    if done.returncode != 0 and "NewConnectionError" in done.stderr and not os.environ.get("CI"):
        pytest.skip("the package index is unreachable (CI runs this test)")
    assert done.returncode == 0, done.stderr[-3000:]
    installs = {
        canonicalize_name(i["metadata"]["name"]) for i in json.loads(report.read_text())["install"]
    }
    assert {"fastapi", "uvicorn", "sqlalchemy", "celery", "boto3"} <= installs
    assert installs & VIDEO == set()


def test_the_gateway_lock_holds_no_video_library():
    assert set(locked("api")) & VIDEO == set()


def test_the_client_lock_holds_httpx_pydantic_and_theirs_only():
    assert set(locked("client")) == CLIENT_ONLY


def test_the_client_runs_where_only_its_lock_is_installed(tmp_path):
    """A fresh virtual environment with requirements/client.txt and the project (no
    dependencies): the client imports, and the remote commands answer, with no video,
    database or server library to import."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    lock = ROOT / "requirements" / "client.txt"
    done = subprocess.run(
        [*pip, "--require-hashes", "-r", lock], capture_output=True, text=True, env=env
    )
    if done.returncode != 0 and "NewConnectionError" in done.stderr and not os.environ.get("CI"):
        pytest.skip("the package index is unreachable (CI runs this test)")
    assert done.returncode == 0, done.stderr[-3000:]
    subprocess.run([*pip, ROOT], check=True, capture_output=True, env=env, timeout=300)
    probe = (
        "import sys, dance_client\n"
        "from dance_client import cli\n"
        "heavy = {'sqlalchemy', 'celery', 'boto3', 'fastapi', 'cv2', 'mediapipe', 'av'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    imported = subprocess.run(
        [venv / "bin" / "python", "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert imported.returncode == 0 and imported.stdout.strip() == "[]", imported.stderr
    helped = subprocess.run(
        [venv / "bin" / "dance-analyzer", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert helped.returncode == 0, helped.stderr
    assert "submit" in helped.stdout and "download" in helped.stdout


@pytest.mark.parametrize("lock", ["worker", "local", "dev"])
def test_the_worker_locks_hold_one_opencv_and_nothing_pose_tracking_does_not_use(lock):
    pins = locked(lock)
    assert [name for name in pins if OPENCV.match(name)] == ["opencv-python-headless"]
    assert set(pins) & LEFT_OUT == set()
    assert {"mediapipe", "av", "numpy"} <= set(pins)
    assert pins["numpy"].startswith("1.")  # mediapipe 0.10.21 is built against numpy 1


@pytest.mark.parametrize(
    ("lock", "extras"),
    [
        ("client", ["client"]),
        ("api", ["service", "api"]),
        ("worker", ["service", "worker"]),
        ("local", ["service", "api", "worker", "local"]),
        ("dev", ["client", "service", "api", "worker", "local", "test"]),
    ],
)
def test_each_lock_pins_every_requirement_of_its_extras_within_range(lock, extras):
    pins, meta = locked(lock), project()
    wanted = [Requirement(r) for r in meta["dependencies"]]
    for extra in extras:
        wanted += [Requirement(r) for r in meta["optional-dependencies"][extra]]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name == "dance-analyzer":
            continue  # the project's own extras, listed above
        assert name in pins, f"requirements/{lock}.txt lacks {name}: run requirements/compile.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements/{lock}.txt pins {name}=={pins[name]}, outside {requirement}"
        )


def test_the_locks_agree_on_versions():
    dev = locked("dev")
    for lock in ("client", "api", "worker", "local"):
        differ = {n: (v, dev.get(n)) for n, v in locked(lock).items() if dev.get(n) != v}
        assert differ == {}, lock


def test_every_locked_file_has_a_hash():
    for lock in ("client", "api", "worker", "local", "dev"):
        text = (ROOT / "requirements" / f"{lock}.txt").read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text)
        pinned = [e for e in entries if "==" in e.split("\n")[0]]
        assert pinned and all("--hash=sha256:" in e for e in pinned), lock
