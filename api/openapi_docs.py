"""What the OpenAPI document says about bodies the routes read themselves (streamed
multipart uploads, bounded JSON): schemas, examples and descriptions."""

from __future__ import annotations

from typing import Any

from api.schemas import JobFromUpload, UploadCreate

_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["video"],
    "properties": {
        "video": {
            "type": "string",
            "format": "binary",
            "description": "The video (MP4/MOV, WebM/MKV, AVI, MPEG, MPEG-TS, FLV, Ogg), at "
            "most `MAX_UPLOAD_MB` MiB.",
        },
        "webhook_url": {
            "type": "string",
            "maxLength": 2048,
            "description": "http(s) URL POSTed a signed `job.succeeded`/`job.failed` event. "
            "It must lead to a public address (or a host in WEBHOOK_ALLOWED_HOSTS); no user "
            "info.",
            "examples": ["https://example.com/hooks/dance"],
        },
        "options": {
            "type": "string",
            "description": "JSON object: `min_detection_confidence`, `min_tracking_confidence` "
            "(0..1; defaults from the server settings).",
            "examples": ['{"min_detection_confidence": 0.6}'],
        },
    },
}

SUBMIT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            "application/json": {"schema": JobFromUpload.model_json_schema()},
        },
    }
}

SUBMIT_DESCRIPTION = """\
Send a dance video and get a job back at once; processing happens in the background.

- **multipart/form-data**: the file field `video`, optional fields `webhook_url` and
  `options` (JSON). The file is streamed to storage as it arrives.
- **application/json**: `{"upload_id": ..., "webhook_url": ..., "options": {...}}` for a
  file already uploaded with `POST /api/uploads`.

Answers **202** with the job status object and `Location: /api/status/{job_id}`. With an
`Idempotency-Key` header (per tenant, remembered 24 h), repeating the request answers the
same job (header `Idempotent-Replayed: true`, nothing stored again); the same key with a
different file, upload, webhook URL or options is refused (422 `idempotency_key_reused`).
At most `MAX_JOBS_IN_FLIGHT` jobs of a tenant may be queued or processing (429).
"""

UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": UploadCreate.model_json_schema()}},
    }
}

UPLOAD_DESCRIPTION = """\
For large files, upload straight to storage instead of through the API:

1. `POST /api/uploads` → `upload_id`, `url`, `fields`.
2. POST a multipart form to `url`: every entry of `fields`, then the file as the field
   `file` (storage refuses files larger than `max_bytes`).
3. `POST /api/jobs` with `{"upload_id": ...}` (optionally `webhook_url`, `options`).

The upload is accepted once: the job gets its own copy of the file, and the upload is
removed. The form expires at `expires_at`; an upload no job takes is removed after a day.
"""
