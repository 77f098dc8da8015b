"""A Python client of the dance movement analysis service (`pip install
'dance-analyzer[client]'`: httpx and pydantic, nothing else).

`Client` for plain code, `AsyncClient` for asyncio; both read `DANCE_ANALYZER_URL` and
`DANCE_ANALYZER_API_KEY` when not given a URL or key. `verify_webhook` checks a webhook's
signature for receivers (`event_data` reads its data: a job's or a comparison's status).
Errors: `dance_client.errors`; answers: `dance_client.models`.
"""

from dance_client.async_client import AsyncClient, AsyncJob
from dance_client.client import Client, Job
from dance_client.errors import (
    APIError,
    AuthenticationError,
    ComparisonFailed,
    ComparisonNotFinished,
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
from dance_client.webhooks import event_data, verify_webhook

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncJob",
    "AuthenticationError",
    "Client",
    "ComparisonFailed",
    "ComparisonNotFinished",
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
    "event_data",
    "verify_webhook",
]
