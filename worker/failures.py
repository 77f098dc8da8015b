"""How an attempt that cannot succeed ends: the failures that end a job as it is, each with
its stable code (bad input, a pose model not installed here, a segment tried too often, the
time limit, the input gone from storage, storage refusing a request), told apart from the
unexpected (`internal_error`). Failures worth waiting out are `worker.transient`'s."""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from pipeline.errors import VideoInputError
from pipeline.pose.models import ModelUnavailable
from shared.config import settings
from shared.storage_errors import is_missing_object


class AttemptFailed(Exception):
    """The attempt ends the job failed with `code`; trying again would not help."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def known_failure(exc: BaseException) -> tuple[str, str] | None:
    """The code and message of a failure that ends the job as it is, or None."""
    if isinstance(exc, VideoInputError | AttemptFailed | ModelUnavailable):
        return exc.code, exc.message
    if isinstance(exc, SoftTimeLimitExceeded):
        return (
            "time_limit_exceeded",
            f"processing took longer than {settings.JOB_SOFT_TIME_LIMIT_S} s",
        )
    if is_missing_object(exc):
        return "input_missing", "the uploaded video is no longer stored"
    return None
