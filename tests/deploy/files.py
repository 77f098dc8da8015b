"""The deployment files as data, for the tests of this folder."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# the project's own top-level packages, and the folders beside them that hold Python
OURS = {"api", "bench", "cli", "dance_client", "pipeline", "shared", "tests", "worker"}

# The commands the end-to-end tests start (cli.local_stack) and the contract names.
API_COMMAND = ["uvicorn", "api.main:app"]
WORKER_COMMAND = ["celery", "-A", "worker.celery_app", "worker"]
MIGRATE_COMMAND = ["alembic", "upgrade", "head"]
BUCKET_COMMAND = ["python", "-m", "shared.bootstrap"]
WORKER_HEALTHCHECK = ["python", "-m", "worker.healthcheck"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile(name: str) -> str:
    return (ROOT / name).read_text()


def dockerfile_instruction(name: str, instruction: str) -> list[str]:
    """The JSON arguments of every `INSTRUCTION [...]` line (continuations joined)."""
    text = re.sub(r"\\\n\s*", " ", dockerfile(name))
    return [
        json.loads(m.group(1))
        for m in re.finditer(rf"^{instruction} .*?(\[.*\])$", text, re.MULTILINE)
    ]


def k8s_documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def k8s_object(kind: str, name: str) -> dict:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in k8s_documents(path.name):
            if doc.get("kind") == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind} {name} in {K8S}")


def tool(name: str) -> str:
    """A command-line tool of the test extra (in this interpreter's bin), or the PATH's."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed (it comes with the test extra)")
    return found


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
