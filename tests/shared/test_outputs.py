"""The registry of outputs (`shared.outputs`) is what every part reads: an output in it has
its file in a run's folder, its key under the job's prefix (so deletion and retention take
it), its field in the status object and its download route."""

from __future__ import annotations

from pathlib import Path

from api.main import app
from pipeline.runner import PipelineResult
from shared.outputs import COMPARISON_OUTPUTS, JOB_OUTPUTS
from shared.schemas import JobResult
from shared.storage_keys import comparison_output_key, job_prefixes, output_key, output_keys

JOB = "0b4c6f9e-6a0c-4f51-9a55-3f7f1c2f0a11"


def test_names_and_file_names_are_unique():
    for outputs in (JOB_OUTPUTS, COMPARISON_OUTPUTS):
        assert len({o.name for o in outputs}) == len({o.file_name for o in outputs}) == len(outputs)


def test_each_job_output_has_its_field_in_the_status_object_required_when_always_made():
    fields = JobResult.model_fields
    for output in JOB_OUTPUTS:
        field = fields[f"{output.name}_url"]
        assert field.is_required() == output.always, output.name


def test_each_output_has_its_download_route_documented_from_the_registry():
    paths = app.openapi()["paths"]
    for prefix, outputs in (
        ("/api/jobs/{job_id}", JOB_OUTPUTS),
        ("/api/comparisons/{comparison_id}", COMPARISON_OUTPUTS),
    ):
        for output in outputs:
            route = paths[f"{prefix}/{output.name}"]["get"]
            assert (route["summary"], route["description"]) == (output.summary, output.description)
            assert route["operationId"].startswith(f"get_{output.name}_api_")
            assert "302" in route["responses"]


def test_outputs_are_stored_under_the_prefixes_that_deletion_and_retention_remove():
    outputs_prefix = job_prefixes(JOB)[1]
    assert set(output_keys(JOB)) == {o.name for o in JOB_OUTPUTS}
    for output in JOB_OUTPUTS:
        assert output_key(JOB, output) == outputs_prefix + output.file_name
    for output in COMPARISON_OUTPUTS:
        assert comparison_output_key(JOB, output) == f"comparisons/{JOB}/{output.file_name}"


def test_a_run_writes_each_output_under_its_file_name(tmp_path: Path):
    paths = PipelineResult(tmp_path, {}).output_paths()
    assert paths == {o.name: tmp_path / o.file_name for o in JOB_OUTPUTS}
