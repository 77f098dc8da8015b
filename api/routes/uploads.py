"""Direct-to-storage uploads: the client sends the video to S3 itself, then creates the job."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import SettingsDep, StorageDep
from api.errors import error_responses
from api.routes.jobs import base_url
from api.schemas import UploadCreate, UploadTicket
from api.upload import max_file_bytes
from shared.storage import input_key

router = APIRouter(prefix="/api", tags=["uploads"])


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadTicket,
    summary="Get a presigned upload URL",
    description="""\
For large files, upload straight to storage instead of through the API:

1. `POST /api/uploads` → `upload_id`, `url`, `fields`.
2. POST a multipart form to `url`: every entry of `fields`, then the file as the field
   `file` (storage refuses files larger than `max_bytes`). Or PUT the raw bytes to
   `put_url` (no size cap, checked when the job is created).
3. `POST /api/jobs` with `{"upload_id": ...}` (optionally `webhook_url`, `options`).

The URLs expire at `expires_at`.
""",
    responses=error_responses(422),
)
def create_upload(body: UploadCreate, settings: SettingsDep, storage: StorageDep) -> UploadTicket:
    upload_id = uuid.uuid4()
    key = input_key(upload_id, body.filename)
    limit = max_file_bytes(settings.MAX_UPLOAD_MB)
    expires_s = settings.PRESIGNED_URL_EXPIRY_S
    post = storage.presigned_post(
        key, max_bytes=limit, expires_s=expires_s, content_type=body.content_type
    )
    put_url, _ = storage.presigned_put(key, expires_s=expires_s)
    return UploadTicket(
        upload_id=upload_id,
        url=post["url"],
        fields=post["fields"],
        expires_at=post["expires_at"],
        max_bytes=limit,
        key=key,
        put_url=put_url,
        job_url=f"{base_url(settings)}/api/jobs",
    )
