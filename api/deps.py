"""Request dependencies as `Annotated` aliases; tests replace them via `app.dependency_overrides`
(keys: `get_session`, `get_settings`, `shared.storage.get_storage`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
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


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
StorageDep = Annotated[Storage, Depends(get_storage)]
