"""The project as a wheel, installed without its source tree: the wheel holds every file of
the packages (the page, its scripts and styles, the vendored libraries), and the gateway
starts from it and serves its page and static files.

The wheel is built offline, without build isolation, from a copy of the checkout (so that
no `build/` or `*.egg-info` of an earlier build, in the checkout or elsewhere, can add what
the configuration leaves out), with the setuptools and wheel of the test extra. It goes
into a fresh virtual environment that sees this interpreter's site-packages through a
`.pth` line: the dependencies are there, while the project's editable install is not (its
`.pth` files are not read from a directory that a `.pth` line adds).
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import os
import re
import shutil
import site
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from cli.local_stack import free_port
from tests.deploy.files import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

MODULES = ("plots.js", "compare.js", "card.js", "steps.js")  # the page's other scripts

# what a build reads besides the packages; other top-level files are not copied
BUILD_FILES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.py", "setup.cfg")


def _packages() -> list[str]:
    """The top-level packages that pyproject.toml's `packages.find` includes."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    include = config["packages"]["find"]["include"]
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").is_file()
        and any(fnmatch.fnmatchcase(path.name, pattern) for pattern in include)
    )


def _package_files() -> set[str]:
    """Every file under the packages' folders in the checkout (posix paths from the root),
    leaving out bytecode."""
    found = set()
    for package in _packages():
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(ROOT).as_posix())
    return found


def _source_copy(directory: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore: at the root, only the build's files and the packages."""
    skip = {name for name in names if name == "__pycache__" or name.endswith(".pyc")}
    if Path(directory) == ROOT:
        skip |= set(names) - set(BUILD_FILES) - set(_packages())
    return skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built offline from a copy of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    source, dist = tmp / "source", tmp / "dist"
    shutil.copytree(ROOT, source, ignore=_source_copy)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--check-build-dependencies",  # setuptools and wheel: the test extra's
            "--wheel-dir",
            dist,
            source,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = dist.glob("*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed and this interpreter's
    site-packages (the dependencies) visible; its interpreter's path."""
    ours = importlib.metadata.distribution("dance-analyzer").files
    root = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", root], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib")])
    (Path(purelib) / "dependencies.pth").write_text("".join(f"{path}\n" for path in deps))
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
        # --ignore-installed: else pip uninstalls the checkout's own (editable) install from
        # the environment running the tests before it writes into --prefix
        + ["--ignore-installed", "--prefix", root, wheel],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert importlib.metadata.distribution("dance-analyzer").files == ours  # left alone
    return python


def test_the_wheel_holds_every_file_of_the_packages(wheel):
    """The Python modules and the data beside them: the page, its scripts and styles, the
    Swagger UI and uPlot with their licences."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"api/static/app/index.html", "api/static/swagger-ui/swagger-ui-bundle.js"} <= names
    missing = sorted(_package_files() - names)
    assert missing == [], f"left out of the wheel: {missing[:20]}"


def test_the_installed_packages_are_the_wheels_not_the_checkouts(venv, tmp_path):
    packages = _packages()
    probe = subprocess.run(
        [
            venv,
            "-I",
            "-c",
            "import importlib, json, sys\n"
            "print(json.dumps({n: importlib.import_module(n).__file__ for n in sys.argv[1:]}))",
            *packages,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    origins = json.loads(probe.stdout)
    site_dir = venv.parent.parent  # the environment's root
    assert sorted(origins) == packages
    for name, origin in origins.items():
        assert Path(origin).is_relative_to(site_dir), f"{name} imported from {origin}"


def test_the_gateway_from_the_wheel_serves_its_page_and_static_files(venv, tmp_path):
    """`uvicorn api.main:app` started from an empty folder with the installed package and
    default settings (no database or queue is reached for these routes)."""
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [venv, "-I", "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, f"uvicorn exited: {log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"no answer: {log.read_text()[-3000:]}"
                try:
                    page = client.get("/")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert page.status_code == 200
            assert page.text == (ROOT / "api/static/app/index.html").read_text(encoding="utf-8")
            docs = client.get("/docs")
            assert docs.status_code == 200
            assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text + docs.text))
            assert "/static/app/app.js" in assets and "/static/docs.js" in assets
            modules = {f"/static/app/{name}" for name in MODULES}  # imported by app.js
            for asset in sorted(assets | modules):
                served = client.get(asset)
                assert served.status_code == 200, asset
                local = ROOT / "api" / asset.removeprefix("/")
                assert served.content == local.read_bytes(), asset
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_installed_package_migrates_a_database_without_the_checkout(venv, tmp_path):
    """`dance-analyzer local` from a wheel has no alembic.ini: `python -m shared.migrate`
    runs the migrations the package ships, to the newest revision."""
    database = tmp_path / "local.db"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [venv, "-I", "-m", "shared.migrate", f"sqlite:///{database}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    heads = sorted(p.name for p in (ROOT / "shared" / "migrations" / "versions").glob("0*.py"))
    with sqlite3.connect(database) as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert version == heads[-1].split("_")[0]
    assert {"jobs", "tenants", "api_keys", "comparisons"} <= tables
