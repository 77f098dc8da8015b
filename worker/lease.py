"""Keep a job's lease alive for the whole attempt, transfers included: a thread renews it
every third of JOB_LEASE_S. If the job stopped being ours (deleted, or taken over after this
worker stalled), `lost` is set and the job stops at its next check."""

from __future__ import annotations

import logging
import threading
import uuid

from shared.db import session_scope
from shared.states import renew_lease

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, job_id: uuid.UUID, attempt: int, lease_s: float):
        self.job_id, self.attempt, self.lease_s = job_id, attempt, lease_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, self.lease_s / 3)):
            try:
                with session_scope() as session:
                    ours = renew_lease(
                        session, self.job_id, attempt=self.attempt, lease_s=self.lease_s
                    )
            except Exception as exc:  # the database is down: try again next time
                log.warning("job %s: lease not renewed: %s", self.job_id, exc)
                continue
            if not ours:
                self.lost.set()
                return
