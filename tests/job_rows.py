"""Job rows for tests of the data layer: inserted directly, as the gateway would leave them."""

from __future__ import annotations

import uuid

from shared.models import Job
from shared.tenants import default_tenant


def new_job(session_scope, **values) -> uuid.UUID:
    """A job of the default tenant (queued unless `values` say otherwise); returns its id."""
    with session_scope() as session:
        job = Job(
            tenant_id=default_tenant(session).id,
            input_key="inputs/x/video.mp4",
            options={},
            **values,
        )
        session.add(job)
        session.flush()
        return job.id
