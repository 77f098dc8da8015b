"""`dance-analyzer tenants ...`: create tenants, issue and revoke API keys, rotate webhook
secrets, on the database of `DATABASE_URL` (the same settings as the services).

Secrets are printed once, when made; the database keeps only hashes of API keys.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

EXIT_REFUSED = 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    tenants = commands.add_parser("tenants", help="manage tenants, API keys and webhook secrets")
    actions = tenants.add_subparsers(required=True, metavar="ACTION")

    create = actions.add_parser(
        "create", help="a new tenant with one API key and its own webhook signing secret"
    )
    create.add_argument("name")
    create.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object: {"tenant_id", "name", "api_key", "webhook_secret"}',
    )
    create.set_defaults(run=_create)

    listing = actions.add_parser("list", help="tenants and their keys (prefixes only)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    add_key = actions.add_parser("add-key", help="one more API key for a tenant")
    add_key.add_argument("name")
    add_key.add_argument("--json", action="store_true")
    add_key.set_defaults(run=_add_key)

    revoke = actions.add_parser("revoke-key", help="revoke an API key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_revoke_key)

    rotate = actions.add_parser(
        "rotate-webhook-secret",
        help="a new signing secret; the old one also signs during WEBHOOK_SECRET_GRACE_S",
    )
    rotate.add_argument("name")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(run=_rotate)


def _run(action: Any) -> Any:
    """Run `action(session)` in one transaction; tenant errors exit with status 2."""
    from shared.db import session_scope
    from shared.tenants import TenantError

    try:
        with session_scope() as session:
            return action(session)
    except TenantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_REFUSED) from None


def _print(values: dict[str, Any], as_json: bool, warning: str | None = None) -> int:
    if as_json:
        print(json.dumps(values))
        return 0
    width = max(len(name) for name in values)
    for name, value in values.items():
        print(f"{name:<{width}}  {value}")
    if warning:
        print(warning, file=sys.stderr)
    return 0


def _create(args: argparse.Namespace) -> int:
    from shared.tenants import create_tenant

    def create(session):
        tenant, new = create_tenant(session, args.name)
        return {
            "tenant_id": str(tenant.id),
            "name": tenant.name,
            "api_key": new.plaintext,
            "webhook_secret": tenant.webhook_secret,
        }

    return _print(
        _run(create),
        args.json,
        "keep the API key and the webhook secret now: they are not shown again",
    )


def _list(args: argparse.Namespace) -> int:
    from shared.tenants import list_tenants

    def listing(session):
        return [
            {
                "tenant_id": str(t.id),
                "name": t.name,
                "created_at": _time(t.created_at),
                "keys": [
                    {
                        "key_id": str(k.id),
                        "prefix": k.prefix,
                        "created_at": _time(k.created_at),
                        "last_used_at": _time(k.last_used_at),
                        "revoked_at": _time(k.revoked_at),
                    }
                    for k in t.keys
                ],
            }
            for t in list_tenants(session)
        ]

    tenants = _run(listing)
    if args.json:
        print(json.dumps(tenants))
        return 0
    for tenant in tenants:
        print(f"{tenant['name']}  {tenant['tenant_id']}  created {tenant['created_at']}")
        for key in tenant["keys"]:
            state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "active"
            print(
                f"    {key['prefix']}…  {key['key_id']}  {state}, "
                f"last used {key['last_used_at'] or 'never'}"
            )
    return 0


def _add_key(args: argparse.Namespace) -> int:
    from shared.tenants import add_key

    def add(session):
        new = add_key(session, args.name)
        return {"key_id": str(new.key.id), "name": args.name, "api_key": new.plaintext}

    return _print(_run(add), args.json, "keep the API key now: it is not shown again")


def _revoke_key(args: argparse.Namespace) -> int:
    from shared.tenants import revoke_key

    def revoke(session):
        key = revoke_key(session, args.key_id)
        return {"key_id": str(key.id), "prefix": key.prefix, "revoked_at": _time(key.revoked_at)}

    return _print(_run(revoke), False)


def _rotate(args: argparse.Namespace) -> int:
    from shared.config import settings
    from shared.tenants import rotate_webhook_secret

    def rotate(session):
        tenant = rotate_webhook_secret(session, args.name, grace_s=settings.WEBHOOK_SECRET_GRACE_S)
        return {
            "name": tenant.name,
            "webhook_secret": tenant.webhook_secret,
            "previous_secret_signs_until": _time(tenant.previous_secret_expires_at),
        }

    return _print(
        _run(rotate),
        args.json,
        "keep the new webhook secret now: it is not shown "
        "again; webhooks carry both signatures until then",
    )


def _time(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else None
