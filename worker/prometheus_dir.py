"""Where a worker's pool processes keep their metric files (prometheus_client's multiprocess
mode). prometheus_client reads `PROMETHEUS_MULTIPROC_DIR` once, when it is first imported, so
`choose()` runs at the top of `worker.celery_app`, before any module that imports it."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def choose() -> str:
    """The directory for this worker's metric files: the one already set (the pool processes
    inherit it from the main process), or a new empty one that goes when this process ends;
    "" when prometheus_client was loaded first (metrics then stay in this process)."""
    directory = os.environ.get(VARIABLE)
    if directory:
        return directory
    if "prometheus_client" in sys.modules:
        return ""  # too late (the app imported inside another program): in-process metrics
    directory = tempfile.mkdtemp(prefix="dance-metrics-")
    os.environ[VARIABLE] = directory
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked pool process that happens to exit cleanly
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory
