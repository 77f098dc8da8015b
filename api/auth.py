"""Who is calling: the tenant of the API key in `Authorization: Bearer <key>` or `X-API-Key`.

Every `/api/*` route depends on `current_caller`. A missing, unknown or revoked key is 401
`unauthorized` with `WWW-Authenticate: Bearer`. With `AUTH_REQUIRED=false` a request without
a key acts as the tenant `default` (a key that is sent must still be valid). Both schemes are
declared in the OpenAPI document, either one suffices.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SettingsDep
from api.errors import APIError
from shared.db import session_scope
from shared.tenants import authenticate, default_tenant

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key from `dance-analyzer tenants create NAME`: "
    "`Authorization: Bearer dak_...`.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="The same API key in an `X-API-Key` header.",
)


@dataclass(frozen=True)
class Caller:
    """The tenant a request acts for."""

    tenant_id: uuid.UUID
    tenant_name: str


def unauthorized(message: str) -> APIError:
    return APIError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def current_caller(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    api_key: Annotated[str | None, Security(api_key_scheme)] = None,
) -> Caller:
    """The calling tenant, or 401. Runs in a worker thread (one indexed query)."""
    presented = bearer.credentials if bearer else api_key
    with session_scope() as session:
        if presented:
            tenant = authenticate(session, presented.strip())
            if tenant is None:
                raise unauthorized("the API key is unknown or revoked")
        elif settings.AUTH_REQUIRED:
            raise unauthorized("send an API key: `Authorization: Bearer <key>` or `X-API-Key`")
        else:
            tenant = default_tenant(session)
        return Caller(tenant_id=tenant.id, tenant_name=tenant.name)


CallerDep = Annotated[Caller, Depends(current_caller)]
