"""The remote commands of `dance-analyzer` as people and scripts run them: real processes
against the session's stack, in a real pseudo-terminal (bars, the key prompt, Ctrl-C) and
with their output piped (plain lines, `--json`, exit codes)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clips import make_clip, probe

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(300)]

CLI = str(Path(sys.executable).parent / "dance-analyzer")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-clips")
    return {
        "short": make_clip(folder / "short.mp4", frames=30, fps=15),
        "other": make_clip(folder / "other.mp4", person="camera", frames=30, fps=15),
        "long": make_clip(folder / "long.mp4", width=640, height=480, frames=300, fps=30),
    }


@pytest.fixture
def env(stack, tenant):
    return {
        **os.environ,
        "DANCE_ANALYZER_URL": stack.api_url,
        "DANCE_ANALYZER_API_KEY": tenant["api_key"],
    }


def piped(args: list[str], env: dict, cwd: Path, timeout: float = 180):
    return subprocess.run(
        [CLI, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def in_terminal(
    args: list[str],
    env: dict,
    cwd: Path,
    *,
    type_when: tuple[bytes, bytes] | None = None,
    interrupt_when: bytes | None = None,
    timeout: float = 180,
) -> tuple[int, str]:
    """Run the CLI on a new pseudo-terminal (its stdin, stdout and stderr); type a line when
    `type_when[0]` appears, send SIGINT when `interrupt_when` does. Returns (exit code,
    everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(cwd)
        os.execve(CLI, [CLI, *args], env)
    shown, typed, interrupted = b"", False, False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if type_when and not typed and type_when[0] in shown:
                os.write(fd, type_when[1] + b"\n")
                typed = True
            if interrupt_when and not interrupted and interrupt_when in shown:
                os.kill(pid, signal.SIGINT)
                interrupted = True
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the CLI did not end: {shown.decode(errors='replace')}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_submit_on_a_terminal_draws_a_bar_per_video_and_downloads_them(env, clips, tmp_path):
    code, shown = in_terminal(
        ["submit", clips["short"], clips["other"], "--out", "results", "--export", "bvh,csv"],
        env,
        tmp_path,
    )
    assert code == 0, shown
    assert "\x1b[" in shown  # bars redrawn in place
    for name in ("short.mp4", "other.mp4"):
        assert name in shown
    assert "uploading" in shown and "[" + "#" * 24 + "] 100%" in shown
    for stem in ("short", "other"):
        files = sorted(p.name for p in (tmp_path / "results" / stem).iterdir())
        assert files == [
            "analysis.json",
            "angles.csv",
            "annotated.mp4",
            "keypoints.json",
            "motion.bvh",
            "summary.json",
            "world_landmarks.csv",
        ]


def test_piped_output_is_plain_lines_and_json_for_scripts(env, clips, tmp_path):
    done = piped(["submit", clips["short"], "--out", "out", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr and "\r" not in done.stderr
    lines = done.stderr.splitlines()
    assert "short.mp4: uploading 100%" in lines
    assert "short.mp4: succeeded 100%" in lines
    [outcome] = json.loads(done.stdout)
    assert outcome["status"] == "succeeded"
    assert (tmp_path / outcome["files"]["video"]).stat().st_size > 0  # relative to its cwd
    job_id = outcome["job_id"]

    status = piped(["status", job_id, "--json"], env, tmp_path)
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "succeeded"
    again = piped(["download", job_id, "--out", "again"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "keypoints.json").read_bytes() == (
        tmp_path / outcome["files"]["keypoints"]
    ).read_bytes()

    table = piped(["jobs", "--limit", "5"], env, tmp_path)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "FILE", "STATUS", "PROGRESS", "CREATED", "DURATION"]
    assert any(row.startswith(job_id) and "succeeded" in row for row in rows)

    compared = piped(["compare", job_id, job_id, "--json"], env, tmp_path)
    assert compared.returncode == 0, compared.stderr
    comparison = json.loads(compared.stdout)
    assert comparison["status"] == "succeeded" and comparison["summary"]["similarity"] > 90
    assert (comparison["mirror"], comparison["video"]) == ("auto", True)
    assert comparison["result"]["video_url"] and "files" not in comparison
    # a bare --mirror is on, wherever it stands; --no-video makes none
    mirrored = piped(["compare", "--mirror", job_id, job_id, "--no-video", "--json"], env, tmp_path)
    assert mirrored.returncode == 0, mirrored.stderr
    mirrored_comparison = json.loads(mirrored.stdout)
    assert (mirrored_comparison["mirror"], mirrored_comparison["video"]) == (True, False)
    assert mirrored_comparison["result"]["video_url"] is None
    # the summary for people, and the files downloaded
    text = piped(["compare", job_id, job_id, "--mirror", "off", "--out", "cmp"], env, tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].endswith(": succeeded")
    assert lines[1].startswith("score 100.0 / 100 (pose 100.0, timing ")
    assert any(line.startswith("coverage ") for line in lines)
    assert any(line.startswith("judgements per ") for line in lines)
    assert lines[-3:] == ["files:", "  cmp/comparison.json", "  cmp/comparison.mp4"]
    downloaded = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert downloaded["mirror_decision"]["mode"] == "off" and downloaded["score"] == 100
    assert probe(tmp_path / "cmp" / "comparison.mp4")["codec"] == "h264"

    deleted = piped(["delete", job_id, "--json"], env, tmp_path)
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["status"] == "deleted"
    gone = piped(["status", job_id], env, tmp_path)
    assert gone.returncode == 1 and "deleted" in gone.stdout


def test_exit_codes_tell_a_failed_job_a_refusal_and_an_unreachable_service(env, tmp_path):
    broken = tmp_path / "broken.mp4"  # looks like MP4 to the gateway, is not one
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(50_000))
    failed = piped(["submit", str(broken), "--json"], env, tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)[0]["error"] == "corrupt_video"

    wrong_key = piped(["jobs"], {**env, "DANCE_ANALYZER_API_KEY": "dak_wrong"}, tmp_path)
    assert wrong_key.returncode == 2
    assert "401" in wrong_key.stderr

    usage = piped(["wait"], env, tmp_path)
    assert usage.returncode == 2 and "usage" in usage.stderr

    unreachable = piped(["jobs", "--server", "http://127.0.0.1:9"], env, tmp_path)
    assert unreachable.returncode == 3
    assert "connection_failed" in unreachable.stderr


def test_ctrl_c_while_waiting_leaves_the_job_running_and_says_how_to_resume(env, clips, tmp_path):
    code, shown = in_terminal(
        ["submit", clips["long"], "--out", "out"], env, tmp_path, interrupt_when=b"processing"
    )
    assert code == 130, shown
    [resume] = [line for line in shown.splitlines() if "dance-analyzer wait" in line]
    job_id = resume.split()[-1]
    waited = piped(["wait", job_id, "--out", "out", "--json"], env, tmp_path)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)[0]["status"] == "succeeded"
    assert (tmp_path / "out" / job_id / "annotated.mp4").stat().st_size > 0


# A command whose work absorbs the first cancellation (as a library may, mid-request): one
# Ctrl-C must still end it, with KeyboardInterrupt, within a moment.
STUBBORN = """
import asyncio, os, signal, sys, time
from dance_client.cli import _until_interrupted

async def stubborn():
    for _ in range(2):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # swallowed: the work goes on
    return 0

async def main():
    asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGINT)
    return await _until_interrupted(stubborn())

started = time.monotonic()
try:
    asyncio.run(main())
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - started:.1f} s")
    sys.exit(130)
"""


def test_one_ctrl_c_ends_a_command_even_if_its_work_absorbs_a_cancellation():
    result = subprocess.run(
        [sys.executable, "-c", STUBBORN], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 130, result.stderr
    assert float(result.stdout.split()[2]) < 2


def test_the_key_comes_from_a_prompt_or_a_file_never_only_the_command_line(env, tenant, tmp_path):
    keyless = {k: v for k, v in env.items() if k != "DANCE_ANALYZER_API_KEY"}
    code, shown = in_terminal(
        ["jobs", "--limit", "1"],
        keyless,
        tmp_path,
        type_when=(b"API key:", tenant["api_key"].encode()),
    )
    assert code == 0, shown
    assert tenant["api_key"] not in shown  # typed without echo
    assert "STATUS" in shown

    key_file = tmp_path / "key"
    key_file.write_text(tenant["api_key"] + "\n")
    from_file = piped(["jobs", "--api-key-file", str(key_file)], keyless, tmp_path)
    assert from_file.returncode == 0, from_file.stderr
