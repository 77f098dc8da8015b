"""Database fixtures (a pytest plugin: `pytest_plugins = ["tests.fixtures_db"]`).

- `pg_url`: a fresh Postgres database for the test session, migrated to head, dropped at the
  end: the service stacks' (their workers' reconciler and sweeps run in the background, and
  the e2e tests read their rows). The server is the one of `settings.DATABASE_URL` when that
  is Postgres, else postgres@127.0.0.1:5432. Unreachable: skipped, or failed when CI=true.
- `unit_pg_url`: another such database, for the in-process tests of `db`, so that a stack
  still running on the same xdist worker never touches the rows a test set up.
- `empty_pg_url`: a fresh, empty Postgres database for one test (migration tests).
- `db`: points `shared.db` at `unit_pg_url`, empties every table (committed, so other processes
  see what a test writes) and yields `shared.db.session_scope`.
- `sqlite_url` / `sqlite_db`: the same on a new SQLite file per test.
- `any_db`: `db` or `sqlite_db`, parametrized, for behaviour that must hold on both.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared import db as shared_db
from shared.config import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TEST_APPLICATION_NAME = "dance-tests"
TABLES = ("job_segments", "comparisons", "webhook_deliveries", "jobs", "api_keys", "tenants")

SessionScope = Callable[[], AbstractContextManager[Session]]


def alembic_config(url: str) -> Config:
    """Alembic config of the repo, aimed at `url`, leaving pytest's logging alone."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    return config


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def _server_url() -> URL:
    url = make_url(settings.DATABASE_URL)
    if url.get_backend_name() != "postgresql":
        url = make_url(DEFAULT_PG_SERVER)
    return url.set(drivername="postgresql+psycopg", database="postgres")


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@contextmanager
def _temporary_pg_database() -> Iterator[str]:
    """Create a uniquely named database, yield its URL, drop it (even if still in use)."""
    server = _server_url()
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            message = (
                f"Postgres is not reachable at {server.render_as_string()} "
                f"({type(exc.orig).__name__}: {' '.join(str(exc.orig).split())})"
            )
            if os.environ.get("CI") == "true":
                pytest.fail(f"{message}; CI=true requires it", pytrace=False)
            pytest.skip(f"{message}; start it or set CI=true to make this an error")

        name = f"dance_test_{os.getpid()}_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield _render(server.set(database=name))
        finally:
            shared_db.configure_engine()  # close our own pool on that database first
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a Postgres database for this test session, migrated to head."""
    with _temporary_pg_database() as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def unit_pg_url() -> Iterator[str]:
    """URL of a second session database, migrated to head, where no service stack runs."""
    with _temporary_pg_database() as url:
        migrate(url)
        yield url


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """URL of a new, empty Postgres database, dropped after the test."""
    with _temporary_pg_database() as url:
        yield url


@pytest.fixture
def db(unit_pg_url: str) -> Iterator[SessionScope]:
    """`session_scope` on the in-process tests' Postgres database, every table emptied."""
    shared_db.configure_engine(unit_pg_url, application_name=TEST_APPLICATION_NAME)
    with shared_db.get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE TABLE {', '.join(TABLES)}"))
    yield shared_db.session_scope
    shared_db.configure_engine()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new SQLite file, migrated to head."""
    url = f"sqlite:///{tmp_path / 'dance.db'}"
    migrate(url)
    return url


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[SessionScope]:
    """`session_scope` on a new SQLite database."""
    shared_db.configure_engine(sqlite_url, application_name=TEST_APPLICATION_NAME)
    yield shared_db.session_scope
    shared_db.configure_engine()


@pytest.fixture(
    params=[pytest.param("postgres", marks=pytest.mark.services), "sqlite"],
)
def any_db(request: pytest.FixtureRequest) -> SessionScope:
    """`db` (Postgres) or `sqlite_db`, one test run per backend."""
    fixture = "db" if request.param == "postgres" else "sqlite_db"
    return request.getfixturevalue(fixture)
