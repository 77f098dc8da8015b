"""Shared fixtures live in plugin modules, one per kind of real service; `tests.scheduling`
spreads the suite over the cores."""

pytest_plugins = [
    "tests.fixtures_db",
    "tests.fixtures_redis",
    "tests.fixtures_s3",
    "tests.fixtures_http",
    "tests.fixtures_stack",
    "tests.scheduling",
    "pytester",  # tests/test_scheduling.py
]
