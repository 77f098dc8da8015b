"""Shared fixtures live in plugin modules, one per kind of real service."""

pytest_plugins = [
    "tests.fixtures_db",
    "tests.fixtures_redis",
    "tests.fixtures_s3",
    "tests.fixtures_http",
]
