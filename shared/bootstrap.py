"""`python -m shared.bootstrap`: create the S3 bucket if it does not exist and set its
lifecycle rules (abort unfinished multipart uploads, expire unused direct uploads), and abort
multipart uploads abandoned for STALE_MULTIPART_UPLOAD_S (e.g. by a killed gateway). Idempotent.

Run once per deployment, next to `alembic upgrade head` (docker-compose's `bucket` service).
"""

from __future__ import annotations

import sys

from botocore.exceptions import ClientError

from shared.config import settings
from shared.storage import LIFECYCLE_DAYS, get_storage


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
    aborted = storage.abort_stale_multipart_uploads(settings.STALE_MULTIPART_UPLOAD_S)
    print(f"abandoned multipart uploads aborted now: {aborted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
