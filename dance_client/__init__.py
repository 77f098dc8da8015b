"""A Python client of the dance movement analysis service (`pip install
'dance-analyzer[client]'`: httpx and pydantic, nothing else).

`Client` for plain code, `AsyncClient` for asyncio; both read `DANCE_ANALYZER_URL` and
`DANCE_ANALYZER_API_KEY` when not given a URL or key. `verify_webhook` checks a webhook's
signature for receivers. Errors: `dance_client.errors`; answers: `dance_client.models`.
"""

from dance_client.async_client import AsyncClient, AsyncJob
from dance_client.client import Client, Job
from dance_client.errors import (
    APIError,
    AuthenticationError,
    ComparisonFailed,
    DanceAnalyzerError,
    DownloadError,
    JobFailed,
    JobNotFinished,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    WaitTimeout,
    WebhookVerificationError,
)
from dance_client.models import ComparisonStatus, JobResult, JobStatus
from dance_client.transport import RetryPolicy
from dance_client.webhooks import verify_webhook

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncJob",
    "AuthenticationError",
    "Client",
    "ComparisonFailed",
    "ComparisonStatus",
    "DanceAnalyzerError",
    "DownloadError",
    "Job",
    "JobFailed",
    "JobNotFinished",
    "JobResult",
    "JobStatus",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ServiceUnavailable",
    "WaitTimeout",
    "WebhookVerificationError",
    "verify_webhook",
]
