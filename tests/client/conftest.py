"""The client's tests run against a stack of their own (the same processes as the session's
e2e stack), so that they form a group of their own that the scheduler can put on the other
core, beside the e2e modules and the web page instead of after them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cli.local_stack import ServiceProcesses
from tests.fixtures_stack import e2e_stack


@pytest.fixture(scope="package")
def stack(pg_url, redis_url, moto_server, bucket, tmp_path_factory) -> Iterator[ServiceProcesses]:
    yield from e2e_stack(
        pg_url, redis_url, moto_server, bucket, tmp_path_factory.mktemp("client-logs")
    )
