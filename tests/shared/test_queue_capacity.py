"""What the workers say of themselves (`shared.queue.capacity_answers`): only a Redis broker
broadcasts, only the workers of the asked queue count, and the pose models they run."""

from __future__ import annotations

import pytest

from shared import queue
from shared.config import settings

REPLIES = [
    {"celery@a": {"queues": ["video"], "concurrency": 2, "active": 1, "models": ["full", "heavy"]}},
    {"celery@b": {"queues": ["webhooks"], "concurrency": 8, "active": 0, "models": ["full"]}},
    {"celery@c": {"queues": ["video"], "concurrency": 1, "active": 0}},  # an older worker
    {"celery@d": "error: unknown command"},
]


@pytest.fixture
def asked(monkeypatch) -> list[str]:
    commands: list[str] = []

    def ask(command: str, timeout_s: float) -> list[dict]:
        commands.append(command)
        return REPLIES

    monkeypatch.setattr(queue, "ask_workers", ask)
    return commands


def test_only_the_workers_of_the_queue_answer_and_their_models_add_up(asked, monkeypatch):
    monkeypatch.setattr(settings, "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    answers = queue.capacity_answers("video", 0.5)
    assert [answer["concurrency"] for answer in answers or []] == [2, 1]
    assert queue.worker_models("video", 0.5) == {"full", "heavy"}
    assert queue.capacity_answers("other", 0.5) is None
    assert asked == [queue.CAPACITY_COMMAND] * 3


def test_a_broker_without_broadcast_is_not_asked(asked, monkeypatch):
    monkeypatch.setattr(settings, "CELERY_BROKER_URL", "filesystem://")
    assert queue.capacity_answers("video", 0.5) is None
    assert queue.worker_models("video", 0.5) is None
    assert asked == []
