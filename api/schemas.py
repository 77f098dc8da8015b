"""Request and response models of the API (the job status object is `shared.schemas`)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import APIError, from_validation_error
from shared.config import Settings
from shared.schemas import JobStatusPublic

WEBHOOK_URL_MAX_CHARS = 2048
OPTIONS_MAX_BYTES = 16 * 1024
IDEMPOTENCY_KEY_MAX_CHARS = 255
FILENAME_MAX_CHARS = 255


class JobOptions(BaseModel):
    """Processing options of a job; omitted values take the server's defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"min_detection_confidence": 0.6}]},
    )

    min_detection_confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="Minimum pose detection confidence, 0..1 (default "
        "`MIN_DETECTION_CONFIDENCE`).",
    )
    min_tracking_confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="Minimum landmark tracking confidence, 0..1 (default "
        "`MIN_TRACKING_CONFIDENCE`).",
    )

    def resolved(self, settings: Settings) -> dict[str, float]:
        """The options with defaults filled in from settings, as stored on the job."""
        return {
            "min_detection_confidence": (
                settings.MIN_DETECTION_CONFIDENCE
                if self.min_detection_confidence is None
                else self.min_detection_confidence
            ),
            "min_tracking_confidence": (
                settings.MIN_TRACKING_CONFIDENCE
                if self.min_tracking_confidence is None
                else self.min_tracking_confidence
            ),
        }


class JobFromUpload(BaseModel):
    """Create a job from a file uploaded directly to storage (see `POST /api/uploads`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "upload_id": "0b4c6f9e-6a0c-4f51-9a55-3f7f1c2f0a11",
            "webhook_url": "https://example.com/hooks/dance",
            "options": {"min_detection_confidence": 0.6},
        }]},
    )

    upload_id: uuid.UUID = Field(description="The `upload_id` returned by `POST /api/uploads`.")
    webhook_url: str | None = Field(
        default=None, description="Called when the job ends (http or https, <= 2048 chars)."
    )
    options: dict[str, Any] | None = Field(
        default=None, description="Processing options, see `JobOptions`."
    )


class UploadCreate(BaseModel):
    """Ask for a presigned upload of one video straight to storage."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"filename": "routine.mp4", "content_type": "video/mp4"}]},
    )

    filename: str | None = Field(
        default=None, max_length=1024,
        description="The file's name; only its extension is used in the storage key.",
    )
    content_type: str | None = Field(
        default=None, max_length=255,
        pattern=r"^(video/[A-Za-z0-9][A-Za-z0-9.+-]*|application/octet-stream)$",
        description="If given, the upload must be sent with this Content-Type.",
    )


class UploadTicket(BaseModel):
    """Where and how to upload: a POST form (size-capped by storage) or a plain PUT."""

    upload_id: uuid.UUID
    method: Literal["POST"] = "POST"
    url: str = Field(description="POST a multipart form here: `fields`, then the file as `file`.")
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int
    key: str
    put_url: str = Field(description="Alternative: PUT the raw bytes here (size not capped).")
    job_url: str = Field(description="Then `POST` `{\"upload_id\": ...}` here to start the job.")


class JobList(BaseModel):
    """A page of jobs, newest first."""

    items: list[JobStatusPublic]
    next: str | None = Field(description="URL of the next page, or null on the last one.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "s3": "ok"}}
    ]})

    status: Literal["ready"] = "ready"
    checks: dict[str, str]


class DeletedFiles(BaseModel):
    """Answer of the legacy `DELETE /api/cleanup/{job_id}`."""

    job_id: str
    deleted_files: list[str]
    count: int


# --- validation of job parameters (shared by the multipart and the JSON forms) ----------------


def parse_options(raw: str | dict[str, Any] | None, settings: Settings) -> dict[str, float]:
    """Validate the `options` (JSON text or an object); 422 `invalid_options` otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return JobOptions().resolved(settings)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise APIError(422, "invalid_options", f"options is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise APIError(422, "invalid_options", "options must be a JSON object")
    try:
        return JobOptions.model_validate(raw).resolved(settings)
    except ValidationError as exc:
        raise from_validation_error(exc, "invalid_options", "invalid options") from None


def parse_webhook_url(raw: str | None) -> str | None:
    """An absolute http(s) URL of at most 2048 chars, or None; 422 `invalid_webhook_url`."""
    if raw is None or not raw.strip():
        return None
    url = raw.strip()

    def refuse(reason: str) -> APIError:
        return APIError(422, "invalid_webhook_url", f"webhook_url {reason}")

    if len(url) > WEBHOOK_URL_MAX_CHARS:
        raise refuse(f"is longer than {WEBHOOK_URL_MAX_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise refuse("contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise refuse("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("must be an absolute http or https URL")
    if not parts.hostname:
        raise refuse("has no host")
    return url


def parse_idempotency_key(raw: str | None) -> str | None:
    """The `Idempotency-Key` header: 1..255 visible ASCII characters, or None."""
    if raw is None:
        return None
    if not 1 <= len(raw) <= IDEMPOTENCY_KEY_MAX_CHARS or not all(
        0x21 <= ord(ch) <= 0x7E for ch in raw
    ):
        raise APIError(
            422, "invalid_idempotency_key",
            f"Idempotency-Key must be 1..{IDEMPOTENCY_KEY_MAX_CHARS} visible ASCII characters",
        )
    return raw
