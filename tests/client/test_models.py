"""The client's models against the gateway's OpenAPI document, field by field: same names,
same required fields, same types (nested models, enums, lists and maps included), so the
client cannot drift from the API. The client keeps its own copies (it must import nothing of
the server); this test is what ties them together."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from api.main import create_app
from dance_client import models

# client model -> the OpenAPI component it mirrors
MIRRORS: dict[type[BaseModel], str] = {
    models.JobStatus: "JobStatusPublic",
    models.JobResult: "JobResult",
    models.ExportLink: "ExportLink",
    models.JobError: "JobError",
    models.JobRetry: "JobRetry",
    models.JobInput: "JobInput",
    models.JobList: "JobList",
    models.UploadTicket: "UploadTicket",
    models.ComparisonStatus: "ComparisonPublic",
    models.ComparisonResult: "ComparisonResult",
    models.ErrorBody: "ErrorBody",
}
ROOT = Path(__file__).resolve().parents[2]
SERVER_NAME = {model.__name__: name for model, name in MIRRORS.items()}


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    return create_app().openapi()["components"]["schemas"]


def shape(schema: dict[str, Any], defs: dict[str, Any], rename: dict[str, str]) -> Any:
    """What a schema says about the data: types, enums, nested models by name; not titles,
    descriptions, examples or bounds."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if "enum" in defs[name]:
            return shape(defs[name], defs, rename)
        return ("model", rename.get(name, name))
    if "anyOf" in schema:
        return ("any", frozenset(shape(option, defs, rename) for option in schema["anyOf"]))
    if "enum" in schema or "const" in schema:
        return ("enum", frozenset(schema.get("enum", [schema.get("const")])))
    kind = schema.get("type")
    if kind == "array":
        return ("array", shape(schema.get("items", {}), defs, rename))
    if kind == "object":
        extra = schema.get("additionalProperties")
        return ("object", shape(extra, defs, rename) if isinstance(extra, dict) else extra)
    return (kind, schema.get("format") if schema.get("format") == "date-time" else None)


def fields(schema: dict[str, Any], defs: dict[str, Any], rename: dict[str, str]) -> dict:
    return {
        name: (shape(prop, defs, rename), name in schema.get("required", []))
        for name, prop in schema["properties"].items()
    }


@pytest.mark.parametrize("model", list(MIRRORS), ids=lambda model: model.__name__)
def test_the_client_model_matches_the_api_document(model, components):
    mine = model.model_json_schema(ref_template="#/components/schemas/{model}")
    my_defs = mine.pop("$defs", {})
    theirs = components[MIRRORS[model]]
    assert fields(mine, my_defs, SERVER_NAME) == fields(theirs, components, {})


def test_every_answer_model_of_the_api_has_a_client_twin(components):
    answers = set(components) - {"HTTPValidationError", "ValidationError", "JobStatus"}
    answers -= {"Health", "Readiness", "DeletedFiles"}  # probes and the legacy route
    assert answers == set(MIRRORS.values())


ROUTE = {  # string literals (JavaScript's template literals too), not prose in docstrings
    ".py": re.compile(r"""['"](/api/[^'"?]*)"""),
    ".js": re.compile(r"""[`'"](/api/[^`'"?]*)"""),
}
PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\{[^}]*\}")


def routes_in(folder: Path, pattern: str) -> set[str]:
    """The API paths a client's sources name, with each placeholder written `{}`."""
    found = set()
    for source in folder.glob(pattern):
        for match in ROUTE[source.suffix].finditer(source.read_text()):
            found.add(PLACEHOLDER.sub("{}", match.group(1)))
    return found


def test_the_client_and_the_page_use_only_routes_the_api_has():
    paths = {PLACEHOLDER.sub("{}", path) for path in create_app().openapi()["paths"]}
    client = routes_in(ROOT / "dance_client", "*.py")
    page = routes_in(ROOT / "api" / "static" / "app", "*.js")
    assert client and page
    assert client - paths == set()
    assert page - paths == set()
    # both follow a job the same way: its events, then its status
    assert {"/api/jobs/{}/events", "/api/status/{}", "/api/uploads"} <= client & page
