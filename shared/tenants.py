"""Tenants, their API keys and their webhook signing secrets: the data functions behind
`dance-analyzer tenants ...` and the gateway's authentication.

An API key is `dak_` + 43 random URL-safe characters (256 bits). Only its SHA-256 is
stored: a fast hash is enough for a secret of that entropy, and it makes the lookup one
indexed query. The first 12 characters (`prefix`) are kept to tell keys apart in listings.
Functions take a session and never commit; the caller's `session_scope()` does.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.models import ApiKey, Tenant, utcnow

API_KEY_PREFIX = "dak_"
SHOWN_PREFIX_CHARS = 12
DEFAULT_TENANT = "default"  # requests without a key act as this tenant when AUTH_REQUIRED=false
LAST_USED_RESOLUTION_S = 60  # `last_used_at` is written at most this often per key
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TenantError(ValueError):
    """A tenant command that cannot be done (unknown name, name taken, bad name)."""


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only moment its plaintext exists."""

    key: ApiKey
    plaintext: str


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise TenantError(
            f"tenant name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def create_tenant(session: Session, name: str) -> tuple[Tenant, NewKey]:
    """A new tenant with its own webhook secret and one API key."""
    tenant = Tenant(name=check_name(name), webhook_secret=new_webhook_secret())
    session.add(tenant)
    try:
        session.flush()
    except IntegrityError:
        raise TenantError(f"a tenant named {name!r} already exists") from None
    return tenant, _add_key(session, tenant)


def get_tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()
    if tenant is None:
        raise TenantError(f"no tenant named {name!r}")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    """Every tenant, by name, with its keys loaded."""
    return list(session.scalars(select(Tenant).order_by(Tenant.name)))


def add_key(session: Session, name: str) -> NewKey:
    return _add_key(session, get_tenant(session, name))


def _add_key(session: Session, tenant: Tenant) -> NewKey:
    plaintext = new_api_key()
    key = ApiKey(
        tenant_id=tenant.id, prefix=plaintext[:SHOWN_PREFIX_CHARS], key_hash=hash_api_key(plaintext)
    )
    session.add(key)
    session.flush()
    return NewKey(key, plaintext)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key by its id; revoking twice keeps the first time."""
    try:
        key = session.get(ApiKey, uuid.UUID(key_id))
    except ValueError:
        key = None
    if key is None:
        raise TenantError(f"no API key with id {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.flush()
    return key


def rotate_webhook_secret(session: Session, name: str, *, grace_s: float) -> Tenant:
    """Give the tenant a new secret; the old one keeps signing too for `grace_s` seconds."""
    tenant = get_tenant(session, name)
    if tenant.webhook_secret is not None:
        tenant.previous_webhook_secret = tenant.webhook_secret
        tenant.previous_secret_expires_at = utcnow() + timedelta(seconds=grace_s)
    tenant.webhook_secret = new_webhook_secret()
    session.flush()
    return tenant


def signing_secrets(
    tenant: Tenant, default_secret: str, *, now: datetime | None = None
) -> list[str]:
    """The secrets a webhook of `tenant` is signed with, current first: the previous one is
    added during its grace period. `default_secret` stands in for a tenant without its own."""
    current = tenant.webhook_secret or default_secret
    expires = tenant.previous_secret_expires_at
    if tenant.previous_webhook_secret and expires and expires > (now or utcnow()):
        return [current, tenant.previous_webhook_secret]
    return [current]


def authenticate(session: Session, plaintext: str) -> Tenant | None:
    """The tenant of a valid, unrevoked key (and note the key's use), else None."""
    if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) > 128:
        return None
    key = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(plaintext))
    ).one_or_none()
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > (
        LAST_USED_RESOLUTION_S
    ):
        key.last_used_at = now
    return key.tenant


def default_tenant(session: Session) -> Tenant:
    """The tenant of requests without a key (AUTH_REQUIRED=false), made on first use. It has
    no secret of its own: its webhooks are signed with the WEBHOOK_SECRET setting."""
    tenant = session.scalars(select(Tenant).where(Tenant.name == DEFAULT_TENANT)).one_or_none()
    if tenant is not None:
        return tenant
    try:
        with session.begin_nested():
            tenant = Tenant(name=DEFAULT_TENANT, webhook_secret=None)
            session.add(tenant)
    except IntegrityError:  # made at the same moment by another request
        tenant = session.scalars(select(Tenant).where(Tenant.name == DEFAULT_TENANT)).one()
    return tenant
