"""The Celery service: job attempts (whole or split), comparisons, webhook deliveries,
leases, the reconciler and the retention purge (`celery -A worker.celery_app worker`)."""
