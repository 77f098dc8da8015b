"""Direct-to-storage uploads: the client sends the video to S3 itself, then creates the job."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from api.auth import CallerDep
from api.deps import SettingsDep, StorageDep
from api.errors import error_responses, from_validation_error
from api.job_access import base_url
from api.json_body import read_json_body
from api.multipart_reader import max_file_bytes
from api.openapi_docs import UPLOAD_DESCRIPTION, UPLOAD_OPENAPI
from api.rate_limit import enforce_rate_limit
from api.schemas import UploadCreate, UploadTicket
from shared.storage_keys import upload_key

router = APIRouter(prefix="/api", tags=["uploads"], dependencies=[Depends(enforce_rate_limit)])


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadTicket,
    summary="Get a presigned upload form",
    description=UPLOAD_DESCRIPTION,
    openapi_extra=UPLOAD_OPENAPI,
    responses=error_responses(401, 408, 413, 415, 422, 429),
)
async def create_upload(
    request: Request, caller: CallerDep, settings: SettingsDep, storage: StorageDep
) -> UploadTicket:
    raw = await read_json_body(request, idle_timeout_s=settings.UPLOAD_IDLE_TIMEOUT_S)
    try:
        body = UploadCreate.model_validate(raw)
    except ValidationError as exc:
        raise from_validation_error(exc, "validation_error", "invalid upload request") from None
    upload_id = uuid.uuid4()
    key = upload_key(caller.tenant_id, upload_id, body.filename)
    limit = max_file_bytes(settings.MAX_UPLOAD_MB)
    post = storage.presigned_post(
        key,
        max_bytes=limit,
        expires_s=settings.PRESIGNED_URL_EXPIRY_S,
        content_type=body.content_type,
    )
    return UploadTicket(
        upload_id=upload_id,
        url=post["url"],
        fields=post["fields"],
        expires_at=post["expires_at"],
        max_bytes=limit,
        key=key,
        job_url=f"{base_url(settings)}/api/jobs",
    )
