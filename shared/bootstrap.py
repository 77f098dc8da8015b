"""`python -m shared.bootstrap`: create the S3 bucket if it does not exist and set its
lifecycle rules (abort unfinished multipart uploads, expire unused direct uploads), its CORS
rules (the web page, served from API_PUBLIC_URL, reads results from storage and uploads large
files straight to it), and abort multipart uploads abandoned for STALE_MULTIPART_UPLOAD_S
(e.g. by a killed gateway). Idempotent.

Run once per deployment, next to `alembic upgrade head` (docker-compose's `bucket` service).
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from shared.config import Settings, settings
from shared.storage import LIFECYCLE_DAYS, Storage, get_storage


def page_origins(config: Settings) -> list[str]:
    """The origins the web page is served from: API_PUBLIC_URL's, and CORS_ORIGINS."""
    origins = list(config.CORS_ORIGINS)
    parts = urlsplit(config.API_PUBLIC_URL or "")
    if parts.scheme and parts.netloc:
        origins.insert(0, f"{parts.scheme}://{parts.netloc}")
    return list(dict.fromkeys(origins))


def ensure_cors_rules(storage: Storage, origins: list[str]) -> None:
    """Let these origins GET results and POST direct uploads (presigned, so nothing more)."""
    storage.client.put_bucket_cors(
        Bucket=storage.bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": origins,
                    "AllowedMethods": ["GET", "HEAD", "POST"],
                    "AllowedHeaders": ["*"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )


def main() -> int:
    storage = get_storage()
    created = storage.ensure_bucket()
    print(f"bucket {storage.bucket}: {'created' if created else 'already there'}")
    try:
        storage.ensure_lifecycle_rules()
    except ClientError as exc:  # e.g. a storage without lifecycle support
        code = exc.response.get("Error", {}).get("Code")
        print(
            f"warning: lifecycle rules not set ({code}); the workers' retention purge "
            "still removes unused uploads",
            file=sys.stderr,
        )
        return 0
    print(
        f"lifecycle: unfinished multipart uploads aborted and unused uploads expired after "
        f"{LIFECYCLE_DAYS} day(s)"
    )
    if origins := page_origins(settings):
        try:
            ensure_cors_rules(storage, origins)
            print(f"CORS: the web page at {', '.join(origins)} may read and upload")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            print(f"warning: CORS rules not set ({code})", file=sys.stderr)
    else:
        print("CORS: not set (no API_PUBLIC_URL): the web page needs it to read results")
    aborted = storage.abort_stale_multipart_uploads(settings.STALE_MULTIPART_UPLOAD_S)
    print(f"abandoned multipart uploads aborted now: {aborted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
