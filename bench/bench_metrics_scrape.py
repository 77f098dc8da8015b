"""What a scrape of the API's /metrics costs the database as the job table grows.

    python bench/bench_metrics_scrape.py [--jobs 200000] [--repeat 20]

Fills a fresh Postgres database (the machine's, migrated with Alembic) with --jobs jobs over
30 days (a tenth finished in the last hour, one webhook delivery per job), then times, in
the same run, the median of --repeat rounds of:
- the baseline: the three queries the former hand-written /metrics ran on every scrape
  (jobs by status, the last hour of finished jobs, the last hour of webhook deliveries);
- now: the whole exposition of `api.prometheus.REGISTRY` (prometheus_client), whose only query
  counts the unfinished jobs by status (Redis is left out of both: its queue lengths cost
  the same). 1 % of the jobs are unfinished.
Prints both, their ratio, and the query plans' scan types.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"

BASELINE = [  # the former /metrics (git show b415579:api/routes/metrics.py)
    "SELECT status, count(*) FROM jobs GROUP BY status",
    "SELECT status, error_code, processing_time_s, queue_wait_s FROM jobs "
    "WHERE finished_at >= now() - interval '1 hour' ORDER BY finished_at DESC LIMIT 10000",
    "SELECT status_code, latency_ms FROM webhook_deliveries "
    "WHERE created_at >= now() - interval '1 hour' LIMIT 10000",
]

NOW = (  # the one query of /metrics now (api/prometheus.py), for its plan
    "SELECT status, count(*) FROM jobs "
    "WHERE status IN ('queued', 'processing', 'retrying') GROUP BY status"
)

FILL = """
INSERT INTO tenants (id, name, webhook_secret, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'bench', 'whsec_x', now());
INSERT INTO jobs (id, tenant_id, status, progress, created_at, updated_at, finished_at,
                  input_key, options, attempts, error_code, processing_time_s, queue_wait_s)
SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001',
       CASE WHEN i % 100 = 0 THEN (ARRAY['queued', 'processing'])[1 + i / 100 % 2]
            ELSE (ARRAY['succeeded','succeeded','succeeded','failed','expired'])[1 + i % 5] END,
       100, t, t, t + interval '30 seconds', 'inputs/x/source.mp4', '{}', 1,
       CASE WHEN i % 5 = 3 THEN 'corrupt_video' END, 12.5, 0.4
FROM (SELECT i, CASE WHEN i % 10 = 0 THEN now() - random() * interval '50 minutes'
                     ELSE now() - interval '1 hour' - random() * interval '30 days' END AS t
      FROM generate_series(1, :jobs) AS i) AS spread;
INSERT INTO webhook_deliveries (id, job_id, event_type, webhook_id, attempt, url, status_code,
                                latency_ms, created_at)
SELECT gen_random_uuid(), id, 'job.succeeded', 'msg_' || id, 1, 'https://example.com/h', 200,
       35, finished_at
FROM jobs;
ANALYZE;
"""


def median_ms(run, repeat: int) -> float:
    run()  # warm the caches, as a scraped server is
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    name = f"dance_bench_metrics_{secrets.token_hex(4)}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    os.environ.update(DATABASE_URL=url, CELERY_BROKER_URL="memory://")
    try:
        from prometheus_client import generate_latest

        from api.prometheus import REGISTRY
        from cli.local_stack import migrate

        migrate(dict(os.environ))
        engine = create_engine(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in FILL.split(";\n"):
                if statement.strip():
                    conn.execute(text(statement), {"jobs": args.jobs})
        print(f"{args.jobs} jobs and deliveries written in {time.perf_counter() - started:.0f} s")

        def baseline() -> None:
            with engine.connect() as conn:
                for query in BASELINE:
                    conn.execute(text(query)).all()

        def now() -> None:
            generate_latest(REGISTRY)

        before, after = median_ms(baseline, args.repeat), median_ms(now, args.repeat)
        with engine.connect() as conn:
            for query in [*BASELINE, NOW]:
                plan = [row[0] for row in conn.execute(text(f"EXPLAIN {query}"))]
                scans = sorted({p.strip(" ->").split("  ")[0] for p in plan if "Scan" in p})
                print(f"plan of {query[:60]}...: {', '.join(scans)}")
        engine.dispose()
        print(f"former /metrics queries (baseline): {before:8.1f} ms per scrape")
        print(f"/metrics now (whole exposition):    {after:8.1f} ms per scrape")
        print(f"ratio: {before / after:.1f}x less time per scrape")
    finally:
        if "shared.db" in sys.modules:
            sys.modules["shared.db"].get_engine().dispose()  # before the database goes
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
