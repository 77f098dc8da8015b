"""Dockerfile.api and Dockerfile.worker cannot be built here (no Docker engine): they pass
hadolint, install from the lock files, run as a user, and start the contract processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import boto3

from tests.deploy.files import (
    API_COMMAND,
    BUCKET_COMMAND,
    ROOT,
    WORKER_COMMAND,
    WORKER_HEALTHCHECK,
    dockerfile,
    dockerfile_instruction,
    imported,
    tool,
)

IMAGES = {"Dockerfile.api": "requirements/api.txt", "Dockerfile.worker": "requirements/worker.txt"}


def test_dockerfiles_pass_hadolint():
    done = subprocess.run(
        [tool("hadolint"), *IMAGES], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfiles_start_the_contract_processes():
    [api] = dockerfile_instruction("Dockerfile.api", "CMD")
    [worker] = dockerfile_instruction("Dockerfile.worker", "CMD")
    assert api[:2] == API_COMMAND
    assert api[api.index("--forwarded-allow-ips") + 1] == "127.0.0.1"
    assert worker == WORKER_COMMAND
    assert "COPY worker" not in dockerfile("Dockerfile.api")  # the gateway ships no video code


def test_images_install_exactly_the_locked_files_and_run_as_a_user():
    for name, lock in IMAGES.items():
        text = dockerfile(name)
        base = re.search(r"^FROM (\S+)$", text, re.MULTILINE).group(1)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base  # a patch release
        assert f"COPY {lock} {lock}" in text
        installs = re.findall(r"pip install (.*)", text)
        assert installs == [f"--no-deps --require-hashes -r {lock}"], name
        assert re.search(r"^USER 10001$", text, re.MULTILINE), name
        assert "apt-get" not in text  # every library the lock needs comes in its wheels


def test_both_images_have_healthchecks_the_tests_run():
    [api] = dockerfile_instruction("Dockerfile.api", "HEALTHCHECK --interval=10s")
    [worker] = dockerfile_instruction("Dockerfile.worker", "HEALTHCHECK --interval=60s")
    assert "/health" in api[-1]
    assert worker == WORKER_HEALTHCHECK  # tests/e2e/test_jobs.py runs it against a real worker


def test_bucket_bootstrap_creates_the_bucket_once(moto_server):
    env = {
        **os.environ,
        "S3_ENDPOINT_URL": moto_server,
        "S3_BUCKET": "bootstrap-test",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "API_PUBLIC_URL": "https://dance.example.com/",
    }
    runs = [
        subprocess.run(
            [sys.executable, *BUCKET_COMMAND[1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "created" in runs[0].stdout and "already there" in runs[1].stdout
    assert "lifecycle" in runs[0].stdout
    # the web page's origin may read results and upload straight to the bucket
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    [rule] = s3.get_bucket_cors(Bucket="bootstrap-test")["CORSRules"]
    assert rule["AllowedOrigins"] == ["https://dance.example.com"]
    assert set(rule["AllowedMethods"]) == {"GET", "HEAD", "POST"}


def test_the_worker_image_compiles_the_numba_functions_into_its_cache(tmp_path):
    text = dockerfile("Dockerfile.worker")
    assert "NUMBA_CACHE_DIR=/app/.numba-cache" in text
    assert "python -m pipeline.numba_cache" in text
    cache = tmp_path / "numba-cache"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.numba_cache"],
        cwd=ROOT,
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    index = [path.name for path in cache.rglob("*.nbi")]  # numba's cache index files
    assert any("beat" in name for name in index)  # librosa's beat tracker
    assert any(name.startswith("alignment.") for name in index)  # the comparison's DTW


def test_each_image_copies_every_package_its_service_imports():
    images = {"Dockerfile.api": "api", "Dockerfile.worker": "worker"}
    for image, package in images.items():
        needed = set()
        todo = {package}
        while todo:  # the packages those packages import, and so on
            name = todo.pop()
            needed.add(name)
            todo |= set(imported(name)) - needed
        copied = copied_by(image)
        assert needed <= copied, f"{image} lacks {sorted(needed - copied)}"
    assert "pipeline" not in copied_by("Dockerfile.api")  # the gateway has no video code


def copied_by(image: str) -> set[str]:
    return set(re.findall(r"^COPY (\w+) \./\1$", dockerfile(image), re.M))


def test_the_worker_image_answers_the_operators_dance_analyzer_command():
    text = dockerfile("Dockerfile.worker")
    assert {"cli", "dance_client"} <= copied_by("Dockerfile.worker")
    assert "COPY deploy/dance-analyzer /usr/local/bin/dance-analyzer" in text
    wrapper = ROOT / "deploy" / "dance-analyzer"
    assert os.access(wrapper, os.X_OK)
    done = subprocess.run(  # as in the image: `python` on PATH, the code in the directory
        [str(wrapper), "tenants", "--help"],
        cwd=ROOT,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "create" in done.stdout and "revoke-key" in done.stdout


def test_the_worker_image_installs_the_pose_models_at_build():
    """The same command tests/pipeline/pose/test_models.py runs against a registry."""
    text = dockerfile("Dockerfile.worker")
    assert "RUN python -m cli.main models install lite heavy" in text
