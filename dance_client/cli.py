"""The remote commands of `dance-analyzer`: a running service, through `AsyncClient`.

dance-analyzer submit VIDEO... --out DIR   upload (a bar per file), follow each job, and
                                           download its outputs into DIR/<video name>/
dance-analyzer status ID | wait ID... | download ID --out DIR | jobs | delete ID
dance-analyzer compare REF_ID ATTEMPT_ID [--mirror auto|on|off] [--no-video]
                 [--webhook-url URL] [--out DIR]
                                           score an attempt job against a reference job,
                                           print the summary; download comparison.json and
                                           comparison.mp4 into DIR (two folders compare
                                           locally)

The service is `--server URL` or `DANCE_ANALYZER_URL`; the API key `--api-key-file FILE`,
`DANCE_ANALYZER_API_KEY`, or a prompt on a terminal (`--api-key` works too, but shows the key
to every user of the machine). `--json` prints one JSON document for scripts. Exit codes:
0 done, 1 a job (or comparison) failed, 2 a usage error or a request the service refused,
3 the service unreachable, 130 interrupted (the jobs keep running).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dance_client import compare_command
from dance_client.async_client import KEY_ENV, URL_ENV, AsyncClient
from dance_client.errors import (
    APIError,
    DanceAnalyzerError,
    JobFailed,
    ServiceUnavailable,
)
from dance_client.models import JobStatus
from dance_client.progress import ProgressBoard

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_RECANCEL_S = 0.2
COMMANDS = ("submit", "status", "wait", "download", "jobs", "delete")


def handles(argv: list[str]) -> bool:
    """Whether `argv` is a remote command: one of `COMMANDS`, or `compare` of two job ids
    (an argument that is a path, or looks like one, makes it the local `compare` of two
    folders, which says so when a folder is missing)."""
    if not argv:
        return False
    if argv[0] in COMMANDS:
        return True
    return argv[0] == "compare" and compare_command.names_two_jobs(argv[1:])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="dance-analyzer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_commands(parser.add_subparsers(required=True, metavar="COMMAND"), include_compare=True)
    args = parser.parse_args(compare_command.bare_mirror_as_on(argv))
    return args.run(args)


def add_commands(commands: Any, *, include_compare: bool) -> None:
    """The remote commands, on `commands` (the subparsers of the `dance-analyzer` parser)."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--server", help=f"the service's URL (default ${URL_ENV})")
    connection.add_argument("--api-key-file", help="a file holding the API key")
    connection.add_argument("--api-key", help=f"the API key (default ${KEY_ENV}, else a prompt)")
    connection.add_argument("--json", action="store_true", help="one JSON document on stdout")

    submit = commands.add_parser(
        "submit", parents=[connection], help="analyze videos on a service, download the results"
    )
    submit.add_argument("videos", nargs="+", metavar="VIDEO")
    submit.add_argument("--out", default="results", help="results go to OUT/<video name>/")
    submit.add_argument("--max-people", type=int, metavar="N", help="follow up to N dancers")
    submit.add_argument(
        "--model",
        choices=("lite", "full", "heavy"),
        help="the pose model (default: the service's, full); lite is the fastest, heavy the "
        "most accurate",
    )
    submit.add_argument(
        "--smoothing",
        choices=("none", "light", "strong"),
        help="steadier landmarks: none, light (the service's default) or strong",
    )
    submit.add_argument(
        "--export",
        type=export_list,
        metavar="FORMATS",
        help="motion files, comma-separated: bvh, trc, csv, or none (default: the service's, "
        "all three)",
    )
    submit.add_argument("--webhook", metavar="URL", help="called when each job ends")
    submit.add_argument("--no-wait", action="store_true", help="print the job ids and stop")
    submit.set_defaults(run=_command(_submit))

    status = commands.add_parser("status", parents=[connection], help="a job's status")
    status.add_argument("job_id", metavar="ID")
    status.set_defaults(run=_command(_status))

    wait = commands.add_parser("wait", parents=[connection], help="follow jobs until they end")
    wait.add_argument("job_ids", nargs="+", metavar="ID")
    wait.add_argument("--out", help="then download each job's outputs into OUT/<job id>/")
    wait.set_defaults(run=_command(_wait))

    download = commands.add_parser("download", parents=[connection], help="a job's outputs")
    download.add_argument("job_id", metavar="ID")
    download.add_argument("--out", required=True, help="folder for the five outputs")
    download.set_defaults(run=_command(_download))

    jobs = commands.add_parser("jobs", parents=[connection], help="the tenant's jobs, newest first")
    jobs.add_argument("--status", help="only jobs in this status")
    jobs.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    jobs.set_defaults(run=_command(_jobs))

    delete = commands.add_parser("delete", parents=[connection], help="delete a job's files")
    delete.add_argument("job_id", metavar="ID")
    delete.set_defaults(run=_command(_delete))

    if include_compare:
        compare = commands.add_parser(
            "compare", parents=[connection], help="score an attempt job against a reference job"
        )
        compare_command.add_arguments(compare)
        compare.set_defaults(run=_command(compare_command.run))


# --- running a command ------------------------------------------------------------------------

Command = Callable[[AsyncClient, argparse.Namespace, "Output"], Awaitable[int]]


class Output:
    """Where a command writes: results to stdout (JSON with `--json`), progress to stderr
    (bars only when stderr is a terminal). `started` lists jobs a Ctrl-C leaves running."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.terminal = sys.stderr.isatty()
        self.started: list[str] = []

    def board(self, names: list[str]) -> ProgressBoard:
        return ProgressBoard(names, sys.stderr, terminal=self.terminal)

    def result(self, document: Any, text: str) -> None:
        print(json.dumps(document, indent=2, default=str) if self.as_json else text)


def export_list(value: str) -> list[str]:
    """`--export`: formats, comma-separated, or `none` (the service checks the names; the
    local `analyze` checks them itself)."""
    if value.strip().lower() == "none":
        return []
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def _command(run: Command) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        output = Output(args.json)
        try:
            return asyncio.run(_with_client(run, args, output))
        except KeyboardInterrupt:
            if output.started:
                ids = " ".join(output.started)
                print(
                    f"\ninterrupted; the jobs keep running: {ids}\n"
                    f"resume with: dance-analyzer wait {ids}",
                    file=sys.stderr,
                )
            return EXIT_INTERRUPTED
        except ServiceUnavailable as exc:
            return _fail(output, exc, EXIT_UNREACHABLE)
        except APIError as exc:
            return _fail(output, exc, EXIT_USAGE)
        except DanceAnalyzerError as exc:
            return _fail(output, exc, EXIT_USAGE)

    return command


async def _with_client(run: Command, args: argparse.Namespace, output: Output) -> int:
    async with AsyncClient(args.server, _api_key(args)) as client:
        return await _until_interrupted(run(client, args, output))


async def _until_interrupted(work: Awaitable[int]) -> int:
    """Run `work`; a Ctrl-C cancels it, and again every `_RECANCEL_S` until it has ended (a
    cancellation that a library absorbs must not keep the command going), then raises
    KeyboardInterrupt. asyncio.run's own handler cancels only once."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    interrupted = False

    def cancel() -> None:
        nonlocal interrupted
        interrupted = True
        if not task.done():
            task.cancel()
            loop.call_later(_RECANCEL_S, cancel)

    try:
        loop.add_signal_handler(signal.SIGINT, cancel)
    except (NotImplementedError, RuntimeError):  # no signals here (Windows, not main thread)
        return await task
    try:
        result = await task
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    if interrupted:
        raise KeyboardInterrupt
    return result


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key_file:
        return Path(args.api_key_file).read_text().strip()
    if args.api_key or os.environ.get(KEY_ENV):
        return args.api_key or os.environ.get(KEY_ENV)
    if sys.stdin.isatty():
        return getpass.getpass("API key: ").strip() or None
    return None


def _fail(output: Output, exc: DanceAnalyzerError, code: int) -> int:
    document = {"error": getattr(exc, "code", "client_error"), "message": str(exc)}
    if output.as_json:
        print(json.dumps(document))
    else:
        print(f"error: {exc}", file=sys.stderr)
    return code


# --- the commands -----------------------------------------------------------------------------


async def _submit(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    names = [Path(video).name for video in args.videos]
    board = output.board(names)
    outcomes = await asyncio.gather(
        *(
            _submit_one(client, args, output, board, Path(video), name)
            for video, name in zip(args.videos, names, strict=True)
        )
    )
    statuses = {outcome["status"] for outcome in outcomes}
    lines = [
        f"{o['file']}: {o['status']} {o.get('job_id', '')} {o.get('out', o.get('error', ''))}"
        for o in outcomes
    ]
    output.result(outcomes, "\n".join(lines))
    if "refused" in statuses:
        return EXIT_USAGE
    return EXIT_JOB_FAILED if statuses - {"succeeded", "queued"} else EXIT_OK


async def _submit_one(
    client: AsyncClient,
    args: argparse.Namespace,
    output: Output,
    board: ProgressBoard,
    video: Path,
    name: str,
) -> dict[str, Any]:
    def uploaded(sent: int, total: int | None) -> None:
        board.update(name, "uploading", 100 * sent / total if total else 0)

    try:
        job = await client.submit(
            video,
            max_people=args.max_people,
            exports=args.export,
            model=args.model,
            smoothing=args.smoothing,
            webhook_url=args.webhook,
            on_upload=uploaded,
        )
    except ServiceUnavailable:
        raise
    except APIError as refused:  # this video only: the others go on
        board.update(name, "refused", 0, refused.code)
        return {"file": str(video), "status": "refused", "error": refused.code}
    output.started.append(job.id)
    outcome: dict[str, Any] = {"file": str(video), "job_id": job.id, "status": job.status.status}
    if args.no_wait:
        board.update(name, "queued", 0, job.id)
        return outcome
    return await _finish(client, job.id, board, name, Path(args.out) / video.stem, outcome)


async def _finish(
    client: AsyncClient,
    job_id: str,
    board: ProgressBoard,
    name: str,
    out: Path | None,
    outcome: dict[str, Any],
) -> dict[str, Any]:
    """Follow the job on its row of the board, then download its outputs into `out`."""

    def progressed(status: JobStatus) -> None:
        note = status.retry.reason or "" if status.retry else ""
        board.update(name, status.status, status.progress, note)

    try:
        status = await client.wait(job_id, on_progress=progressed)
    except JobFailed as failed:
        board.update(name, failed.job.status, failed.job.progress, failed.code)
        return outcome | {"status": failed.job.status, "error": failed.code}
    outcome["status"] = status.status
    if out is not None:
        board.update(name, "downloading", 100)
        paths = await client.download(job_id, out)
        board.update(name, "done", 100, str(out))
        outcome |= {"out": str(out), "files": {key: str(path) for key, path in paths.items()}}
    return outcome


async def _status(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    status = (await client.get(args.job_id)).status
    output.result(status.model_dump(mode="json"), _describe(status))
    return EXIT_JOB_FAILED if status.status in ("failed", "deleted", "expired") else EXIT_OK


async def _wait(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    output.started.extend(args.job_ids)
    board = output.board(args.job_ids)
    outcomes = await asyncio.gather(
        *(
            _finish(
                client,
                job_id,
                board,
                job_id,
                Path(args.out) / job_id if args.out else None,
                {"job_id": job_id},
            )
            for job_id in args.job_ids
        )
    )
    output.result(outcomes, "\n".join(f"{o['job_id']}: {o['status']}" for o in outcomes))
    return EXIT_OK if all(o["status"] == "succeeded" for o in outcomes) else EXIT_JOB_FAILED


async def _download(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    paths = await client.download(args.job_id, args.out)
    document = {key: str(path) for key, path in paths.items()}
    output.result(document, "\n".join(document.values()))
    return EXIT_OK


async def _jobs(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    rows: list[JobStatus] = []
    async for job in client.jobs(status=args.status, page_size=min(100, max(1, args.limit))):
        rows.append(job.status)
        if len(rows) >= args.limit:
            break
    table = [("ID", "FILE", "STATUS", "PROGRESS", "CREATED", "DURATION")]
    for row in rows:
        duration = (
            f"{(row.finished_at - row.started_at).total_seconds():.1f}s"
            if row.finished_at and row.started_at
            else ""
        )
        table.append(
            (
                row.job_id,
                (row.input.filename if row.input else None) or "",
                row.status,
                f"{row.progress}%",
                row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                duration,
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(6)]
    text = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )
    output.result([row.model_dump(mode="json") for row in rows], text)
    return EXIT_OK


async def _delete(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    status = await client.delete(args.job_id)
    output.result(status.model_dump(mode="json"), f"{status.job_id}: {status.status}")
    return EXIT_OK


def _describe(status: JobStatus) -> str:
    lines = [f"{status.job_id}: {status.status} {status.progress}%"]
    if status.input and status.input.filename:
        lines.append(f"  file: {status.input.filename}")
    if status.error:
        lines.append(f"  error: {status.error.code}: {status.error.message}")
    if status.retry and status.retry.reason:
        lines.append(f"  retrying: {status.retry.reason}")
    if status.metrics:
        shown = ("detection_rate", "total_frames", "duration_s", "processing_time_s")
        lines += [f"  {key}: {status.metrics[key]}" for key in shown if key in status.metrics]
    return "\n".join(lines)
