"""Database engine and sessions: one engine per process, built lazily from settings.

The API and the worker name their engine (`configure_engine(application_name=...)`) so
their connections are told apart in `pg_stat_activity`. Celery pool processes call
`dispose_engine_after_fork()` from `worker_process_init`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from shared.config import settings

DEFAULT_APPLICATION_NAME = "dance-analyzer"
SQLITE_BUSY_TIMEOUT_MS = 30_000

_lock = threading.Lock()
_url: str | None = None
_application_name = DEFAULT_APPLICATION_NAME
_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def configure_engine(url: str | None = None, application_name: str | None = None) -> None:
    """Set the database URL (default `settings.DATABASE_URL`) and the application name.

    The current engine, if any, is disposed; the next `get_engine()` builds a new one.
    """
    global _url, _application_name, _engine, _sessionmaker
    with _lock:
        old = _engine
        _url, _engine, _sessionmaker = url, None, None
        if application_name:
            _application_name = application_name
    if old is not None:
        old.dispose()


def get_engine() -> Engine:
    """The process's engine, created on first use."""
    return _ensure()[0]


def get_sessionmaker() -> sessionmaker[Session]:
    """Session factory bound to the process's engine (objects stay readable after commit)."""
    return _ensure()[1]


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engine_after_fork() -> None:
    """Forget connections inherited from the parent process without closing them."""
    if _engine is not None:
        _engine.dispose(close=False)


def _ensure() -> tuple[Engine, sessionmaker[Session]]:
    global _engine, _sessionmaker
    with _lock:
        if _engine is None or _sessionmaker is None:
            _engine = _create_engine(_url or settings.DATABASE_URL, _application_name)
            _sessionmaker = sessionmaker(bind=_engine, expire_on_commit=False)
        return _engine, _sessionmaker


def _create_engine(url: str, application_name: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["application_name"] = application_name
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
