"""One logging configuration for the API (uvicorn included), the workers (Celery included) and
the CLI: JSON lines when stderr is not a terminal (containers, files), readable text on one.

Context travels with the code, not the call: `bind(job_id=..., attempt=...)` (the worker) or
`bind(request_id=...)` (the gateway) puts fields on every line logged until the matching
`unbind`, in this thread or task only (`contextvars`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from pythonjsonlogger.json import JsonFormatter

CONTEXT_FIELDS = ("request_id", "job_id", "attempt")
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)


def bind(**fields: Any) -> contextvars.Token:
    """Add fields to every log line of this context; returns the token for `unbind`."""
    return _context.set({**_context.get(), **fields})


def unbind(token: contextvars.Token) -> None:
    _context.reset(token)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """`bind` for the length of a `with` block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current(field: str) -> Any:
    """A field bound in this context, or None."""
    return _context.get().get(field)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (empty strings where none is bound)."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        record.service = self.service
        for field in CONTEXT_FIELDS:
            setattr(record, field, context.get(field, ""))
        return True


class TextFormatter(logging.Formatter):
    """`time level logger: message  job_id=... attempt=... request_id=...` for people."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(
            f"{field}={value}" for field in CONTEXT_FIELDS if (value := getattr(record, field, ""))
        )
        return f"{line}  {extra}" if extra else line


def configure_logging(service: str, *, level: str = "INFO", json: bool | None = None) -> None:
    """Send every logger (the root, uvicorn's, Celery's) to stderr through one handler."""
    as_json = not sys.stderr.isatty() if json is None else json
    formatter: dict[str, Any] = (
        {
            "()": JsonFormatter,
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s "
            + " ".join(f"%({field})s" for field in CONTEXT_FIELDS),
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if as_json
        else {"()": TextFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter, "service": service}},
            "formatters": {"default": formatter},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stderr",
                    "filters": ["context"],
                    "formatter": "default",
                }
            },
            "root": {"handlers": ["stderr"], "level": level},
            "loggers": {
                # uvicorn and Celery log through the root handler, not their own
                **{
                    name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
                },
                # Celery's per-task INFO lines ("received", "succeeded in"): the worker's own
                # lines say the same with the job's id and attempt; back with LOG_LEVEL=DEBUG
                **{
                    name: {"level": "DEBUG" if level == "DEBUG" else "WARNING"}
                    for name in ("celery.worker.strategy", "celery.app.trace")
                },
            },
        }
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server, local mode
    logging.getLogger("botocore").setLevel(logging.WARNING)
