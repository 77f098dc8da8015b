"""How the suite is spread over the two cores (a pytest plugin; pytest-xdist, `-n 2`).

- **Groups.** Tests that share a fixture broader than one test (a module's clip or pipeline
  run, a package's service stack, the session's e2e stack) must run on one xdist worker, or
  each worker would make that fixture again. Every such fixture defined in `tests/` ties the
  tests that use it together; tests tied through any chain of fixtures form one group, sent
  to one worker as a unit (`--dist loadgroup`, the `xdist_group` mark). The few fixtures each
  worker makes for itself anyway (its database, Redis, S3 server) tie nothing.
- **Order.** The scheduler hands the groups out in collection order. The groups that take
  longest go first (`LONGEST_FIRST`, measured with `pytest --durations`), so that the two
  workers end together instead of one waiting for the other's long tail; everything else
  keeps its order and fills in behind them.

In one process (`-n 0`) the marks do nothing and only the order applies.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

# Fixtures every xdist worker makes once for itself, cheaply: they group nothing.
PER_WORKER = frozenset(
    {
        "tests.fixtures_db.pg_url",
        "tests.fixtures_db.unit_pg_url",
        "tests.fixtures_redis.redis_url",
        "tests.fixtures_s3.moto_server",
        "tests.fixtures_s3._s3_admin",
        "tests.fixtures_stack.bucket",
    }
)

# Node id prefixes of the longest groups, longest first (`pytest --durations=50`).
LONGEST_FIRST = (
    "tests/faults/",
    "tests/pipeline/segments/test_segments.py::test_a_minute_of_1080p_street_footage_split_in_two",
    "tests/web/",  # with the session's e2e stack and the e2e modules that share it
    "tests/client/",  # a stack of its own
    "tests/security/",
    "tests/e2e/test_split.py",
    "tests/pipeline/segments/test_segments.py",
    "tests/deploy/test_images.py",
    "tests/pipeline/people/test_people_footage.py",
    "tests/cli/test_local_mode.py",
    "tests/cli/test_main.py",
    "tests/worker/test_split_jobs.py",
    "tests/deploy/test_dependencies.py",
    "tests/pipeline/compare/test_compare_footage.py",
)


def _shared_fixtures(item: pytest.Item) -> list[str]:
    """The instances of the suite's own fixtures broader than a test that `item` uses (not
    pytest's or a plugin's): a module-scoped fixture makes one instance per module, a
    session-scoped one just one."""
    keys = []
    info = getattr(item, "_fixtureinfo", None)
    for name, defs in info.name2fixturedefs.items() if info else ():
        fixture = defs[-1]  # the definition that applies to this item
        qualified = f"{getattr(fixture.func, '__module__', '')}.{name}"
        if fixture.scope == "function" or qualified in PER_WORKER:
            continue
        if "site-packages" in Path(inspect.getfile(fixture.func)).parts:
            continue
        if fixture.scope == "module":
            qualified += "@" + item.nodeid.split("::")[0]
        elif fixture.scope == "class":
            qualified += "@" + item.nodeid.rsplit("::", 1)[0]
        keys.append(qualified)
    return keys


def _groups(items: list[pytest.Item]) -> dict[str, str]:
    """Node id -> group name, for the tests tied to others by a shared fixture."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for item in items:
        keys = _shared_fixtures(item)
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
    # a group is named after the module of its first test (`tests/web/test_page.py`: `web/
    # test_page`, then `web/test_page-2` ...); xdist shows it after the node id
    names: dict[str, str] = {}
    grouped = {}
    for item in items:
        keys = _shared_fixtures(item)
        if not keys:
            continue
        if root(keys[0]) not in names:
            module = item.nodeid.split("::")[0].removeprefix("tests/").removesuffix(".py")
            taken = sum(1 for name in names.values() if name.split("-")[0] == module)
            names[root(keys[0])] = f"{module}-{taken + 1}" if taken else module
        grouped[item.nodeid] = names[root(keys[0])]
    return grouped


def _rank(nodeid: str) -> int:
    for rank, prefix in enumerate(LONGEST_FIRST):
        if nodeid.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    grouped = _groups(items)
    for item in items:
        if item.nodeid in grouped:
            item.add_marker(pytest.mark.xdist_group(grouped[item.nodeid]))
    # a group's rank is that of its highest-ranked test; the sort is stable, so each
    # group keeps its tests' order (and each module stays in one piece)
    rank: dict[str, int] = {}
    for item in items:
        key = grouped.get(item.nodeid, item.nodeid)
        rank[key] = min(rank.get(key, len(LONGEST_FIRST)), _rank(item.nodeid))
    position = {item.nodeid: index for index, item in enumerate(items)}
    first_of_group: dict[str, int] = {}
    for item in items:
        first_of_group.setdefault(grouped.get(item.nodeid, item.nodeid), position[item.nodeid])

    def order(item: pytest.Item) -> tuple[int, int, int]:
        key = grouped.get(item.nodeid, item.nodeid)
        return rank[key], first_of_group[key], position[item.nodeid]

    items.sort(key=order)


def pytest_collection_finish(session: pytest.Session) -> None:
    """In an xdist worker, check that xdist took the groups: it names a grouped test
    `nodeid@group`, which pytest 9.2's node ids silently undo (pytest-xdist#1386)."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None and not item.nodeid.endswith(f"@{mark.args[0]}"):
            raise pytest.UsageError(
                f"pytest-xdist did not group {item.nodeid}: its --dist loadgroup does not work "
                "with this pytest (pyproject.toml pins the versions where it does)"
            )
