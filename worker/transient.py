"""Which failures are worth waiting out: storage hiccups and lost database connections."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

from shared.storage_errors import is_transient_storage_error


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: storage hiccups and lost database connections."""
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True
    return is_transient_storage_error(exc)


def dependency_of(exc: BaseException) -> str:
    """`storage` or `database`: which one a transient error came from."""
    return "storage" if is_transient_storage_error(exc) else "database"
