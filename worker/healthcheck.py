"""The worker image's healthcheck: a Celery ping of this container's own node.

    python -m worker.healthcheck [NODE]     # NODE defaults to celery@<hostname>

Exits 0 when the node answers within the timeout, 1 otherwise (it is stuck, or lost its
broker connection). A worker busy with a video still answers: its main process does.
"""

from __future__ import annotations

import socket
import sys

TIMEOUT_S = 10.0


def main(argv: list[str]) -> int:
    from worker.celery_app import app

    node = argv[0] if argv else f"celery@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=TIMEOUT_S)
    if any(node in reply for reply in replies):
        print(f"{node}: pong")
        return 0
    print(f"{node}: no answer within {TIMEOUT_S:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
