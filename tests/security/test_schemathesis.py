"""Property-based requests from the API's own OpenAPI document (schemathesis, its command
line), sent with a valid API key to a real uvicorn: whatever they hold, no answer is a 5xx.

The stack's tight rate limit and quotas would turn most requests into 429s here, so this
module runs an API process of its own with room for every generated request."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cli.local_stack import ServiceProcesses, tenant_command

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(900)]

EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def roomy_api(stack, tmp_path_factory):
    """An API process on the stack's database, queue and bucket, with generous limits."""
    env = {
        **stack.env,
        "RATE_LIMIT_PER_MINUTE": "0",
        "MAX_JOBS_IN_FLIGHT": "100000",
        "MAX_CONCURRENT_UPLOADS": "64",
    }
    api = ServiceProcesses(env, tmp_path_factory.mktemp("schemathesis-logs"))
    api.start_api()
    api.wait_api(60)
    yield api
    api.stop()


def test_no_generated_request_makes_the_api_fail(roomy_api, tmp_path):
    made = tenant_command(roomy_api.env, "create", f"fuzz-{secrets.token_hex(3)}")
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert command, "schemathesis is not installed (it comes with the test extra)"

    run = subprocess.run(
        [
            command,
            "run",
            f"{roomy_api.api_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {made['api_key']}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            "20261128",
            "--request-timeout",
            "30",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=800,
        cwd=tmp_path,
    )

    assert run.returncode == 0, (
        run.stdout[-8000:] + run.stderr[-2000:] + roomy_api.log("api")[-4000:]
    )
    document = httpx.get(f"{roomy_api.api_url}/openapi.json", timeout=10).json()
    operations = sum(len(item) for item in document["paths"].values())
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert tested and int(tested.group(1)) == operations  # every operation was exercised
