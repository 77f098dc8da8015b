"""The one logging configuration: JSON lines off a terminal, text on one, bound context."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading

import pytest

from shared import logs


class Captured:
    def __init__(self, capsys):
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def stderr(capsys):
    """What the configured handler writes (to the `sys.stderr` of the moment: pytest's)."""
    yield Captured(capsys)
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    logging.getLogger().handlers.clear()


def test_json_lines_carry_the_bound_job_attempt_and_request(stderr):
    logs.configure_logging("worker", json=True)

    with logs.bound(job_id="j-1", attempt=2, request_id="r-9"):
        logging.getLogger("worker.jobs").info("job %s: attempt %d", "j-1", 2)
    logging.getLogger("celery.worker").warning("outside any job")

    inside, outside = (json.loads(line) for line in stderr.getvalue().splitlines())
    assert inside["message"] == "job j-1: attempt 2"
    assert (inside["job_id"], inside["attempt"], inside["request_id"]) == ("j-1", 2, "r-9")
    assert (inside["level"], inside["logger"], inside["service"]) == (
        "INFO",
        "worker.jobs",
        "worker",
    )
    assert inside["time"]
    assert (outside["job_id"], outside["level"], outside["logger"]) == (
        "",
        "WARNING",
        "celery.worker",
    )


def test_text_lines_for_people_name_the_context_at_the_end(stderr):
    logs.configure_logging("api", json=False)

    with logs.bound(request_id="abc"):
        logging.getLogger("api.access").info("GET /health 200")

    [line] = stderr.getvalue().splitlines()
    assert " INFO api.access: GET /health 200  request_id=abc" in line
    assert not line.startswith("{")


def test_uvicorn_and_celery_lines_go_through_the_same_handler_once(stderr):
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))
    logs.configure_logging("api", json=True)

    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("celery.app.trace").info("Task succeeded")  # quiet below DEBUG

    [line] = [json.loads(text) for text in stderr.getvalue().splitlines()]
    assert line["logger"] == "uvicorn.error"


def test_levels_below_the_configured_one_are_dropped(stderr):
    logs.configure_logging("cli", level="WARNING", json=True)

    logging.getLogger("pipeline").info("frame 12")
    logging.getLogger("pipeline").warning("no person in frame 12")

    assert [json.loads(t)["message"] for t in stderr.getvalue().splitlines()] == [
        "no person in frame 12"
    ]


def test_context_is_per_thread_and_ends_with_its_block():
    seen: list[object] = []
    with logs.bound(job_id="main"):
        thread = threading.Thread(target=lambda: seen.append(logs.current("job_id")))
        thread.start()
        thread.join()
        assert logs.current("job_id") == "main"
    assert logs.current("job_id") is None
    assert seen == [None]
