"""How the suite shares the cores (`tests/scheduling.py`): tests tied by a fixture broader
than a test go to one xdist worker together, and the longest groups go first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import scheduling

FIRST = """
import pytest

@pytest.fixture(scope="module")
def clip():
    return "clip"

@pytest.fixture(scope="session")
def stack():
    return "stack"

@pytest.fixture(scope="module")
def tenant(stack):
    return "tenant"

def test_alone():
    pass

def test_clip(clip):
    pass

def test_with_tmp_path(tmp_path):
    pass

def test_clip_again(clip):
    pass

def test_tenant(tenant):
    pass
"""

SECOND = """
def test_stack(stack):
    pass

def test_tenant_here(tenant):
    pass
"""


def collected(pytester: pytest.Pytester) -> list[tuple[str, str | None]]:
    """(test name, xdist group) in the order the scheduler would hand them out."""
    pytester.makeconftest(
        'pytest_plugins = ["tests.scheduling"]\n'
        "from test_first import stack, tenant  # noqa: F401 (shared with test_second)\n"
    )
    pytester.makepyfile(test_first=FIRST, test_second=SECOND)
    recorder = pytester.inline_run("--collect-only", "-p", "no:cacheprovider")
    [call] = recorder.getcalls("pytest_collection_finish")
    out = []
    for item in call.session.items:
        mark = item.get_closest_marker("xdist_group")
        out.append((item.name, mark.args[0] if mark else None))
    return out


def test_a_module_fixture_ties_its_tests_and_a_session_fixture_ties_every_user(pytester):
    groups = dict(collected(pytester))
    assert groups["test_alone"] is None and groups["test_with_tmp_path"] is None
    assert groups["test_clip"] == groups["test_clip_again"] == "test_first"
    # `tenant` is made once per module, and on `stack`, made once: all of them together
    assert groups["test_tenant"] == groups["test_stack"] == groups["test_tenant_here"]
    assert groups["test_tenant"] == "test_first-2"


def test_a_group_stays_in_one_piece_and_the_longest_go_first(pytester, monkeypatch):
    monkeypatch.setattr(scheduling, "LONGEST_FIRST", ("test_second.py",))
    order = [name for name, _ in collected(pytester)]
    # the group of test_second.py (with test_first's tenant test) first, then the rest in
    # their order, each group's tests side by side
    assert order == [
        "test_tenant",
        "test_stack",
        "test_tenant_here",
        "test_alone",
        "test_clip",
        "test_clip_again",
        "test_with_tmp_path",
    ]


def test_every_longest_first_entry_names_a_folder_or_module_of_the_suite():
    root = Path(__file__).resolve().parents[1]
    for entry in scheduling.LONGEST_FIRST:
        assert (root / entry.split("::")[0]).exists(), entry
