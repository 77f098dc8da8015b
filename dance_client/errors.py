"""What the client raises. Every exception is a `DanceAnalyzerError`; those that come from an
answer of the API carry its stable `code`, its `message`, the HTTP status and the request id
(quote it when reporting a problem)."""

from __future__ import annotations

from typing import Any

import httpx


class DanceAnalyzerError(Exception):
    """Base of every error the client raises."""

    code: str = "client_error"


class APIError(DanceAnalyzerError):
    """The API refused the request: `status`, `code`, `message`, `request_id`, `details`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        details: Any = None,
        retry_after_s: float | None = None,
    ):
        where = f" (request {request_id})" if request_id else ""
        super().__init__(f"{status} {code}: {message}{where}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details
        self.retry_after_s = retry_after_s


class AuthenticationError(APIError):
    """401: no API key, or one the service does not know (or revoked)."""


class NotFound(APIError):
    """404: no such job or comparison for this tenant."""


class RateLimited(APIError):
    """429 for longer than the client was willing to wait (see `retry_after_s`)."""


class ServiceUnavailable(APIError):
    """The service could not be reached (`status` 0, code `connection_failed`), or answered
    502/503/504, after every retry."""


class JobFailed(DanceAnalyzerError):
    """The job ended without outputs: `code` is its failure code (`corrupt_video`, ...), or
    `deleted` / `expired`; `job` is its last status."""

    def __init__(self, job: Any):
        error = job.error
        self.job = job
        self.job_id = job.job_id
        self.code = error.code if error else job.status
        self.message = error.message if error else f"the job is {job.status}"
        super().__init__(f"job {job.job_id} {job.status}: {self.code}: {self.message}")


class WaitTimeout(DanceAnalyzerError, TimeoutError):
    """`wait(timeout=...)` ran out before the job ended; `job` is its last status."""

    code = "wait_timeout"

    def __init__(self, job: Any, timeout_s: float):
        self.job = job
        self.job_id = job.job_id
        super().__init__(f"job {job.job_id} still {job.status} after {timeout_s:g} s")


class DownloadError(DanceAnalyzerError):
    """An output could not be fetched whole (its size did not match, or storage refused)."""

    code = "download_failed"


class WebhookVerificationError(DanceAnalyzerError):
    """A webhook whose signature, timestamp or headers do not check out: do not trust it."""

    code = "webhook_invalid"


class JobNotFinished(DanceAnalyzerError):
    """Outputs were asked of a job that has not succeeded yet (wait for it first)."""

    code = "job_not_finished"


class ComparisonNotFinished(DanceAnalyzerError):
    """Files were asked of a comparison that has not succeeded yet (wait for it first)."""

    code = "comparison_not_finished"


class ComparisonFailed(DanceAnalyzerError):
    """The comparison ended `failed`: `code` and `message` say why; `comparison` is its
    last status."""

    def __init__(self, comparison: Any):
        error = comparison.error or {}
        self.comparison = comparison
        self.code = error.get("code", "comparison_failed")
        self.message = error.get("message", "")
        super().__init__(
            f"comparison {comparison.comparison_id} failed: {self.code}: {self.message}"
        )


_BY_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    404: NotFound,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def error_from_response(response: httpx.Response) -> APIError:
    """The `APIError` for an error answer of the gateway (its JSON `{code, message}`)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        body = {"code": f"http_{response.status_code}", "message": response.text[:500]}
    cls = _BY_STATUS.get(response.status_code, APIError)
    return cls(
        response.status_code,
        body["code"],
        str(body.get("message", "")),
        request_id=response.headers.get("x-request-id"),
        details=body.get("details"),
        retry_after_s=retry_after(response),
    )


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the gateway sends delta-seconds), or None."""
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None
