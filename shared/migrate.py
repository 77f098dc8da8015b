"""`python -m shared.migrate [DATABASE_URL]`: `alembic upgrade head` with the migrations this
package ships (`shared/migrations/`), where there is no checkout and so no `alembic.ini`: the
project installed from a wheel (`dance-analyzer local`). Operators run `alembic upgrade head`
(contract) from the checkout or the images' /app, with the same migrations."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def upgrade(url: str | None = None) -> None:
    """Migrate `url` (default: the settings' DATABASE_URL) to the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.attributes["url"] = url
    command.upgrade(config, "head")


if __name__ == "__main__":
    upgrade(sys.argv[1] if len(sys.argv) > 1 else None)
