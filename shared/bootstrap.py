"""`python -m shared.bootstrap`: create the S3 bucket if it does not exist (idempotent).

Run once per deployment, next to `alembic upgrade head` (docker-compose's `bucket` service).
"""

from __future__ import annotations

import sys

from shared.storage import get_storage


def main() -> int:
    storage = get_storage()
    created = storage.ensure_bucket()
    print(f"bucket {storage.bucket}: {'created' if created else 'already there'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
