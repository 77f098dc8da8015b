"""Who may do what, against the real processes: keys, tenants, quotas, and what every answer
carries. Every route is taken from the API's own OpenAPI document, so a route added later
is covered without touching these tests."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from cli.local_stack import REPO_ROOT, tenant_command
from tests.clips import make_clip
from tests.security.conftest import METRICS_TOKEN, submit, wait_for_end

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "dance.mp4", frames=20, fps=15)


def api_operations(stack) -> list[tuple[str, str]]:
    """Every (method, path) under /api in the served OpenAPI document."""
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path.startswith("/api/")
        for method in item
    ]


def call(client: httpx.Client, method: str, path: str, job_id: str) -> httpx.Response:
    """The route with the job's id (and a motion file it has, for the exports route)."""
    return client.request(method, path.replace("{job_id}", job_id).replace("{name}", "motion.bvh"))


# --- keys -----------------------------------------------------------------------------------


def test_every_api_route_needs_a_valid_key(stack, make_tenant):
    revoked = make_tenant()
    [key] = next(t for t in tenant_command(stack.env, "list") if t["name"] == revoked.name)["keys"]
    tenant_command_plain(stack, "revoke-key", key["key_id"])
    callers = {
        "no key": {},
        "unknown key": {"Authorization": "Bearer dak_" + "x" * 43},
        "not a bearer": {"Authorization": f"Basic {revoked.api_key}"},
        "revoked key": {"Authorization": f"Bearer {revoked.api_key}"},
        "revoked key as X-API-Key": {"X-API-Key": revoked.api_key},
    }
    operations = api_operations(stack)
    assert len(operations) >= 12

    with httpx.Client(base_url=stack.api_url, timeout=30) as anonymous:
        for who, headers in callers.items():
            for method, path in operations:
                answer = anonymous.request(
                    method, path.replace("{job_id}", str(uuid.uuid4())), headers=headers
                )
                assert answer.status_code == 401, (who, method, path, answer.text)
                assert answer.json()["code"] == "unauthorized"
                assert answer.headers["www-authenticate"] == "Bearer"


def tenant_command_plain(stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "tenants", *args],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_public_routes_need_no_key_and_the_document_declares_both_schemes(stack):
    for path in ("/health", "/ready", "/docs", "/openapi.json"):
        assert httpx.get(f"{stack.api_url}{path}", timeout=10).status_code == 200, path
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    submit_security = document["paths"]["/api/jobs"]["post"]["security"]
    assert {"bearer": []} in submit_security and {"apiKey": []} in submit_security
    assert "security" not in document["paths"]["/health"]["get"]


def test_the_cli_prints_one_json_object_and_keys_can_be_added_listed_and_revoked(stack):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "tenants", "create", name, "--json"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    made = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert set(made) == {"tenant_id", "name", "api_key", "webhook_secret"}
    assert made["name"] == name and made["api_key"].startswith("dak_")
    assert made["webhook_secret"].startswith("whsec_")
    second = tenant_command(stack.env, "add-key", name)["api_key"]

    listed = next(t for t in tenant_command(stack.env, "list") if t["name"] == name)
    text_listing = tenant_command_plain(stack, "list")
    first_key = next(k for k in listed["keys"] if made["api_key"].startswith(k["prefix"]))
    tenant_command_plain(stack, "revoke-key", first_key["key_id"])

    def status_with(key: str) -> int:
        return httpx.get(
            f"{stack.api_url}/api/jobs", timeout=10, headers={"X-API-Key": key}
        ).status_code

    assert len(listed["keys"]) == 2
    assert made["api_key"] not in text_listing and second not in text_listing
    assert first_key["prefix"] in text_listing
    assert (status_with(made["api_key"]), status_with(second)) == (401, 200)
    keys = next(t for t in tenant_command(stack.env, "list") if t["name"] == name)["keys"]
    used = next(k for k in keys if second.startswith(k["prefix"]))
    assert used["last_used_at"] is not None and used["revoked_at"] is None
    refused = subprocess.run(
        [sys.executable, "-m", "cli.main", "tenants", "create", name],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "already exists" in refused.stderr


def test_keys_are_stored_only_as_hashes(stack, tenant, pg_url):
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        stored = [" ".join(map(str, row)) for row in conn.execute(text("SELECT * FROM api_keys"))]
    engine.dispose()
    assert stored and not any(tenant.api_key in row for row in stored)
    assert any(tenant.api_key[:12] in row for row in stored)  # the prefix, for listings


# --- isolation ------------------------------------------------------------------------------


def test_another_tenant_gets_404_for_a_job_on_every_route(stack, make_tenant, clip):
    owner, other = make_tenant("owner"), make_tenant("other")
    job_id = submit(owner.api, clip).json()["job_id"]
    assert wait_for_end(owner.api, job_id)["status"] == "succeeded"
    with_id = [(m, p) for m, p in api_operations(stack) if "{job_id}" in p]
    assert len(with_id) >= 7  # status, job, video, keypoints, summary, delete, download, cleanup
    assert ("GET", "/api/jobs/{job_id}/exports/{name}") in with_id

    for method, path in with_id:
        answer = call(other.api, method, path, job_id)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "job_not_found"

    listing = other.api.get("/api/jobs?include_deleted=true").json()
    assert job_id not in [item["job_id"] for item in listing["items"]]
    mine = owner.api.get(f"/api/status/{job_id}").json()  # untouched by the other's DELETEs
    assert mine["status"] == "succeeded"
    assert owner.api.get(f"/api/jobs/{job_id}/video").status_code == 302
    assert owner.api.get(f"/api/jobs/{job_id}/exports/motion.bvh").status_code == 302
    assert job_id in [item["job_id"] for item in owner.api.get("/api/jobs").json()["items"]]


def test_idempotency_keys_belong_to_their_tenant(make_tenant, clip):
    first, second = make_tenant(), make_tenant()
    headers = {"Idempotency-Key": "shared-name"}

    a = submit(first.api, clip, headers=headers)
    b = submit(second.api, clip, headers=headers)

    assert (a.status_code, b.status_code) == (202, 202)
    assert a.json()["job_id"] != b.json()["job_id"]
    assert "idempotent-replayed" not in b.headers


# --- quotas ---------------------------------------------------------------------------------


def test_a_burst_meets_429_while_another_tenant_is_served(stack, make_tenant):
    noisy, quiet = make_tenant("noisy"), make_tenant("quiet")

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: noisy.api.get("/api/jobs"), range(160)))
    quiet_answer = quiet.api.get("/api/jobs")

    codes = [a.status_code for a in answers]
    assert set(codes) == {200, 429}
    assert codes.count(200) <= 120  # RATE_LIMIT_PER_MINUTE
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert quiet_answer.status_code == 200  # another tenant's budget is its own


def test_jobs_in_flight_are_capped_per_tenant(make_tenant, tmp_path):
    busy, other = make_tenant("busy"), make_tenant("other")
    long_clip = make_clip(tmp_path / "long.mp4", width=640, height=480, frames=120, fps=30)

    answers = [submit(busy.api, long_clip) for _ in range(5)]
    other_answer = submit(other.api, long_clip)

    codes = [a.status_code for a in answers]
    assert codes[:3] == [202, 202, 202]  # MAX_JOBS_IN_FLIGHT
    assert 429 in codes[3:]
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["code"] == "too_many_jobs"
    assert refused.headers["retry-after"]
    assert other_answer.status_code == 202
    for answer in [*answers, other_answer]:  # leave the worker free for the next tests
        if answer.status_code == 202:
            job_id = answer.json()["job_id"]
            api = other.api if answer is other_answer else busy.api
            assert api.delete(f"/api/jobs/{job_id}").status_code == 200


# --- what every answer carries --------------------------------------------------------------


def test_every_answer_has_the_security_headers_and_no_server_banner(stack, tenant):
    answers = {
        "health": httpx.get(f"{stack.api_url}/health", timeout=10),
        "json": tenant.api.get("/api/jobs"),
        "error": tenant.api.get(f"/api/status/{uuid.uuid4()}"),
        "401": httpx.get(f"{stack.api_url}/api/jobs", timeout=10),
        "html": httpx.get(f"{stack.api_url}/docs", timeout=10),
        "static": httpx.get(f"{stack.api_url}/static/docs.js", timeout=10),
    }
    for name, answer in answers.items():
        assert "server" not in answer.headers, name
        assert answer.headers["x-content-type-options"] == "nosniff", name
        assert answer.headers["referrer-policy"] == "no-referrer", name
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], name
    html_csp = answers["html"].headers["content-security-policy"]
    assert "script-src 'self'" in html_csp and "unsafe-inline" not in html_csp.split("style-src")[0]
    assert answers["json"].headers["content-security-policy"].startswith("default-src 'none'")
    assert answers["json"].headers["cache-control"] == "no-store"
    assert '<script src="/static/swagger-ui/swagger-ui-bundle.js">' in answers["html"].text


def test_a_refused_cors_preflight_answers_json(stack):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = httpx.options(
        f"{stack.api_url}/api/jobs",
        timeout=10,
        headers=preflight | {"Origin": "https://app.example.com"},
    )
    refused = httpx.options(
        f"{stack.api_url}/api/jobs",
        timeout=10,
        headers=preflight | {"Origin": "https://evil.example.com"},
    )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["code"] == "cors_preflight_refused"
    assert "origin" in refused.json()["message"].lower()
    assert "access-control-allow-origin" not in refused.headers


def test_metrics_answer_only_with_their_token(stack, tenant):
    url = f"{stack.api_url}/metrics"

    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, timeout=10, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        httpx.get(
            url,
            timeout=10,  # a tenant's key is not the metrics token
            headers={"Authorization": f"Bearer {tenant.api_key}"},
        ).status_code
        == 401
    )
    scraped = httpx.get(url, timeout=10, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "dance_jobs" in scraped.text
