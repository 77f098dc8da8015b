"""deploy/k8s cannot be applied here (no cluster): the core kinds are validated offline
against the Kubernetes API schemas (kubernetes-validate), KEDA's ScaledObject by its
structure, and the manifests must agree with the settings and the contract commands."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from shared.config import Settings
from tests.deploy.files import (
    API_COMMAND,
    BUCKET_COMMAND,
    K8S,
    MIGRATE_COMMAND,
    WORKER_COMMAND,
    WORKER_HEALTHCHECK,
    k8s_documents,
    k8s_object,
)

KUBERNETES_VERSION = "1.30.0"  # the oldest minor release still maintained when written


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def core_documents() -> list[tuple[str, dict]]:
    return [
        (name, doc)
        for name in kustomization()["resources"]
        for doc in k8s_documents(name)
        if not doc["apiVersion"].startswith("keda.sh/")
    ]


def container(deployment: str) -> dict:
    [only] = k8s_object("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return only


def test_kustomization_lists_every_manifest():
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    [secrets] = kustomization()["secretGenerator"]
    assert secrets["envs"] == ["secrets.env"] and (K8S / "secrets.env.example").exists()


@pytest.mark.parametrize("index", range(len(core_documents())))
def test_core_objects_follow_the_kubernetes_schema(index):
    name, doc = core_documents()[index]
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validation_refuses_a_misspelt_field():
    deployment = copy.deepcopy(k8s_object("Deployment", "dance-worker"))
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriod"] = spec.pop("terminationGracePeriodSeconds")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_config_names_only_settings_and_the_secrets_file_too():
    config = k8s_object("ConfigMap", "dance-config")["data"]
    assert set(config) <= set(Settings.model_fields)
    assert config["ENVIRONMENT"] == "production"
    example = (K8S / "secrets.env.example").read_text().splitlines()
    secret_names = {line.split("=")[0] for line in example if line and not line.startswith("#")}
    assert secret_names <= set(Settings.model_fields)
    assert {"WEBHOOK_SECRET", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"} <= secret_names


def test_api_runs_the_contract_with_probes_on_health_and_ready():
    api = container("dance-api")
    assert api["command"][:2] == API_COMMAND
    assert "--forwarded-allow-ips" in api["command"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    service = k8s_object("Service", "dance-api")
    assert (
        service["spec"]["selector"]
        == k8s_object("Deployment", "dance-api")["spec"]["selector"]["matchLabels"]
    )


def test_video_workers_get_the_job_grace_period_and_two_cpus():
    pod = k8s_object("Deployment", "dance-worker")["spec"]["template"]["spec"]
    worker = container("dance-worker")
    grace = float(k8s_object("ConfigMap", "dance-config")["data"]["JOB_SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] == grace + 15
    assert worker["command"] == WORKER_COMMAND  # the video queue only
    assert worker["resources"]["requests"]["cpu"] == worker["resources"]["limits"]["cpu"] == "2"
    assert worker["livenessProbe"]["exec"]["command"] == WORKER_HEALTHCHECK
    assert {"name": "metrics", "containerPort": 9808} in worker["ports"]


def test_the_webhook_worker_consumes_only_the_webhooks_queue():
    command = container("dance-webhook-worker")["command"]
    assert command[:4] == WORKER_COMMAND
    assert command[command.index("-Q") + 1] == Settings.model_fields["WEBHOOK_QUEUE"].default
    assert command[command.index("--pool") + 1] == "threads"


def test_migration_job_runs_the_schema_then_the_bucket():
    pod = k8s_object("Job", "dance-migrate")["spec"]["template"]["spec"]
    assert [c["command"] for c in pod["initContainers"]] == [MIGRATE_COMMAND]
    assert [c["command"] for c in pod["containers"]] == [BUCKET_COMMAND]


def test_keda_scales_the_video_workers_on_the_video_queue_length():
    scaled = k8s_object("ScaledObject", "dance-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "dance-worker"
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert 0 <= spec["minReplicaCount"] <= 1 < spec["maxReplicaCount"]
    assert set(spec) <= {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "idleReplicaCount", "fallback", "advanced", "triggers",
    }  # fmt: skip
    [trigger] = spec["triggers"]
    queue = k8s_object("ConfigMap", "dance-config")["data"]["CELERY_QUEUE"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == queue == Settings.model_fields["CELERY_QUEUE"].default
    assert int(trigger["metadata"]["listLength"]) >= 1
    assert all(isinstance(v, str) for v in trigger["metadata"].values())  # KEDA wants strings
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    kubernetes_validate.validate(  # the HPA part is a core type: check it as one
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "check"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                "maxReplicas": spec["maxReplicaCount"],
                "behavior": behavior,
            },
        },
        KUBERNETES_VERSION,
        strict=True,
    )


def test_disruption_budgets_cover_the_api_and_the_video_workers():
    for name in ("dance-api", "dance-worker"):
        budget = k8s_object("PodDisruptionBudget", name)
        deployment = k8s_object("Deployment", name)
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
