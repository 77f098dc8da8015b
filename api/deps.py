"""Request dependencies as `Annotated` aliases; tests replace them via `app.dependency_overrides`
(keys: `get_session`, `get_settings`, `shared.storage.get_storage`). The caller's tenant is
`api.auth.CallerDep`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from shared.config import Settings, settings
from shared.db import session_scope
from shared.storage import Storage, get_storage


def get_settings() -> Settings:
    """The process settings."""
    return settings


def get_session() -> Iterator[Session]:
    """A session that commits when the route succeeds and rolls back when it raises.

    Scoped to the route function, so the commit happens before the response is sent.
    """
    with session_scope() as session:
        yield session


def get_upload_slots(request: Request):
    """The process's cap on concurrent uploads (`api.submission.UploadSlots`)."""
    return request.app.state.upload_slots


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
StorageDep = Annotated[Storage, Depends(get_storage)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe submission: a second request with the same key (same tenant, "
        "within 24 h) answers the job created by the first one (<= 255 characters).",
    ),
]
