"""Which package may import which: the arrows of docs/layout.md, checked on every import
statement (module level or inside a function)."""

from __future__ import annotations

import pytest

from tests.deploy.files import imported

MAY_IMPORT = {
    "shared": {"shared"},
    "pipeline": {"pipeline", "shared"},  # the video analysis: no service, no client
    "api": {"api", "shared"},  # the gateway: no video code
    "worker": {"worker", "pipeline", "shared"},  # the Celery service only
    "cli": {"cli", "pipeline", "shared", "dance_client"},
    "dance_client": {"dance_client"},  # what `pip install dance-analyzer[client]` needs
    "bench": {"bench", "pipeline", "shared", "api", "worker", "cli", "dance_client"},
}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_what_it_may(package):
    wrong = {
        other: sorted(files)
        for other, files in imported(package).items()
        if other not in MAY_IMPORT[package]
    }
    assert wrong == {}
