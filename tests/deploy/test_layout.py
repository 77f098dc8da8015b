"""Which package may import which: the arrows of docs/layout.md, checked on every import
statement (module level or inside a function)."""

from __future__ import annotations

import ast

import pytest

from tests.deploy.files import ROOT

OURS = {"api", "bench", "cli", "dance_client", "pipeline", "shared", "tests", "worker"}
MAY_IMPORT = {
    "shared": {"shared"},
    "pipeline": {"pipeline", "shared"},  # the video analysis: no service, no client
    "api": {"api", "shared"},  # the gateway: no video code
    "worker": {"worker", "pipeline", "shared"},  # the Celery service only
    "cli": {"cli", "pipeline", "shared", "dance_client"},
    "dance_client": {"dance_client"},  # what `pip install dance-analyzer[client]` needs
    "bench": {"bench", "pipeline", "shared", "api", "worker", "cli", "dance_client"},
}


def imported(package: str) -> dict[str, set[str]]:
    """Each of our top-level packages `package` imports, with the files that do."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in OURS:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_what_it_may(package):
    wrong = {
        other: sorted(files)
        for other, files in imported(package).items()
        if other not in MAY_IMPORT[package]
    }
    assert wrong == {}
