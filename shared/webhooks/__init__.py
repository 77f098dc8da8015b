"""Webhooks, the whole subject in one place. A job's or a comparison's end is told to the
tenant's URL, signed with the tenant's secret, retried on a schedule:

- `shared.webhooks.urls`: which URLs may be called (SSRF: checked at submission by the
  gateway, `api.job_params`, and again before every attempt, pinned to the checked address);
- `shared.webhooks.events`: the event types, the body and its signature headers;
- `shared.webhooks.delivery`: one attempt over HTTP, with one deadline;
- `shared.webhooks.schedule`: when a failed attempt is tried again;
- `worker.notify`: the webhooks worker's task: builds the event from the job or comparison
  row, records each attempt (`shared.models.WebhookDelivery`), queues the next one;
- `shared.tenants`: the tenants' signing secrets and their rotation;
- `dance_client.webhooks`: checking a webhook's signature, for receivers.
"""
