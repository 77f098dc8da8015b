"""`dance-analyzer compare`'s command line: its arguments (those of `--mirror` and
`--no-video` shared with the local compare of two folders, `cli.main`), which of the two a
command line asks for, and the remote one's run: create the comparison on the service,
follow it, print its summary (`comparison_text`), download comparison.json and
comparison.mp4."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dance_client.async_client import AsyncClient
from dance_client.comparison_text import comparison_lines
from dance_client.errors import ComparisonFailed

if TYPE_CHECKING:
    from dance_client.cli import Output

EXIT_OK, EXIT_FAILED = 0, 1

# `--mirror`: the API's `mirror` of each choice; a bare `--mirror` means on.
MIRROR_MODES: dict[str, bool | Literal["auto"]] = {"auto": "auto", "on": True, "off": False}
# the options of `compare` (both) that take a value: not positional arguments
_COMPARE_VALUE_OPTIONS = frozenset(
    {"--out", "--server", "--api-key-file", "--api-key", "--webhook-url"}
)


def names_two_jobs(args: list[str]) -> bool:
    """Whether `compare ARGS` names two job ids (the remote `compare`): an argument that is a
    path, or looks like one, makes it the local `compare` of two folders (which says so when
    a folder is missing)."""
    positional = _compare_positionals(args)
    return len(positional) >= 2 and not any(_looks_like_a_path(a) for a in positional[:2])


def _looks_like_a_path(arg: str) -> bool:
    return Path(arg).exists() or "/" in arg or os.sep in arg


def bare_mirror_as_on(argv: list[str]) -> list[str]:
    """`compare`'s bare `--mirror` (not followed by auto, on or off) as `--mirror=on`,
    wherever it stands: argparse would take the argument after it (a folder or a job id) for
    its value."""
    if not argv or argv[0] != "compare":
        return argv
    return [
        "--mirror=on"
        if arg == "--mirror" and (index + 1 == len(argv) or argv[index + 1] not in MIRROR_MODES)
        else arg
        for index, arg in enumerate(argv)
    ]


def _compare_positionals(args: list[str]) -> list[str]:
    """The positional arguments of a `compare` command line (its options' values left out)."""
    positional, skip = [], False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in _COMPARE_VALUE_OPTIONS:
            skip = True
        elif arg == "--mirror":
            skip = index + 1 < len(args) and args[index + 1] in MIRROR_MODES
        elif not arg.startswith("-"):
            positional.append(arg)
    return positional


def add_arguments(compare: argparse.ArgumentParser) -> None:
    """The remote `compare`'s arguments."""
    compare.add_argument("reference", metavar="REF_ID", help="the reference's job id")
    compare.add_argument("attempt", metavar="ATTEMPT_ID", help="the attempt's job id")
    add_mirror_arguments(compare)
    compare.add_argument(
        "--webhook-url", metavar="URL", help="called when the comparison ends (signed)"
    )
    compare.add_argument(
        "--out", help="then download comparison.json and comparison.mp4 into this folder"
    )
    compare.add_argument("--no-wait", action="store_true", help="print the comparison and stop")


def add_mirror_arguments(compare: argparse.ArgumentParser) -> None:
    """`--mirror` and `--no-video`, the same for both `compare` commands."""
    compare.add_argument(
        "--mirror",
        nargs="?",
        const="on",
        default="auto",
        choices=list(MIRROR_MODES),
        help="mirror the attempt (left and right swapped): on for a dancer who faced the "
        "reference, as in a class, off never, auto (default) tries both and keeps the "
        "better match; a bare --mirror means on",
    )
    compare.add_argument(
        "--no-video",
        dest="video",
        action="store_false",
        help="no comparison.mp4 (the two performances side by side, in step; made when both "
        "have their annotated video)",
    )


async def run(client: AsyncClient, args: argparse.Namespace, output: Output) -> int:
    """Create the comparison, follow it, print its summary, download its files."""
    comparison = await client.compare(
        args.reference,
        args.attempt,
        mirror=MIRROR_MODES[args.mirror],
        video=args.video,
        webhook_url=args.webhook_url,
    )
    if not args.no_wait:
        try:
            comparison = await client.wait_comparison(comparison.comparison_id)
        except ComparisonFailed as failed:
            comparison = failed.comparison
    document = comparison.model_dump(mode="json")
    lines = [f"{comparison.comparison_id}: {comparison.status}"]
    if comparison.error:
        lines.append(f"error: {comparison.error.get('code')}: {comparison.error.get('message')}")
    if comparison.status == "succeeded" and comparison.summary is not None:
        files = {}
        if args.out:
            files = await client.download_comparison(comparison.comparison_id, args.out)
            document["files"] = {name: str(path) for name, path in files.items()}
        lines += comparison_lines(comparison.summary, files.values())
    output.result(document, "\n".join(lines))
    return EXIT_FAILED if comparison.status == "failed" else EXIT_OK
