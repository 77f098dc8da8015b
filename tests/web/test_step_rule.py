"""The page (api/static/app/steps.js) and the overlay (`pipeline.analysis.group_steps`) say
the same of each dancer at each moment: the page's own `stepsAt`, run in Chromium, against
the Python rule, on groups with in, out and unknown states, windows without a score and
offsets that round on a half."""

from __future__ import annotations

import base64

import pytest

from cli.local_stack import REPO_ROOT
from pipeline.analysis.group_steps import steps_at
from tests.pipeline.analysis.test_group_steps import trio
from tests.web.test_page import browser  # noqa: F401 - the fixture, launched for this module

STEPS_JS = REPO_ROOT / "api" / "static" / "app" / "steps.js"


def duo_from_the_footage() -> dict:
    """The shape of the girl beside herself 0.2 s later (tests/pipeline/video/
    test_step_marks.py): one pair, out of step, the second dancer 200 ms behind."""
    segments = [
        {"start_s": s, "end_s": s + 2.0, "offset_ms": 200 - (s == 4.0) * 33, "score": 30.0 + s}
        for s in (0.0, 2.0, 4.0, 6.0)
    ]
    return {"dancers": [{"id": 1}, {"id": 2}], "pairs": [{"dancers": [1, 2], "segments": segments}]}


@pytest.fixture(scope="module")
def steps_at_in_the_page(browser):  # noqa: F811 - pytest's fixture argument
    page = browser.new_page()
    source = base64.b64encode(STEPS_JS.read_bytes()).decode()
    page.goto("about:blank")
    page.add_script_tag(
        type="module",
        content=f'import {{ stepsAt }} from "data:text/javascript;base64,{source}";\n'
        "window.stepsAt = stepsAt;",
    )
    page.wait_for_function("typeof window.stepsAt === 'function'")
    yield lambda group, time_s: page.evaluate("([g, t]) => window.stepsAt(g, t)", [group, time_s])
    page.close()


@pytest.mark.parametrize("make", [trio, duo_from_the_footage])
def test_the_page_and_the_overlay_agree_at_every_moment(steps_at_in_the_page, make):
    group = make()
    for tenth in range(-10, 90):
        time_s = tenth / 10
        page = steps_at_in_the_page(group, time_s)
        ours = [
            {"id": s.id, "state": s.state, "offsetMs": s.offset_ms} for s in steps_at(group, time_s)
        ]
        assert ours == page, time_s
