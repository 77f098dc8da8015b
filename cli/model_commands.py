"""`dance-analyzer models ...`: install the pose models that do not ship with mediapipe (lite,
heavy) ahead of time, and list what this machine can run (`pipeline.pose.models`)."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_FAILED = 1
NAMES = ("lite", "full", "heavy")


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="install and list the pose models")
    actions = models.add_subparsers(required=True, metavar="ACTION")

    install = actions.add_parser(
        "install",
        help="fetch lite and/or heavy from the npm registry (@mediapipe/pose, pinned version "
        "and hashes) into POSE_MODELS_DIR; full ships with mediapipe",
    )
    install.add_argument("names", nargs="+", choices=NAMES, metavar="MODEL")
    install.add_argument(
        "--registry", default=None, help="an npm registry (default: registry.npmjs.org)"
    )
    install.set_defaults(run=_install)

    listing = actions.add_parser("list", help="the models this machine can run")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)


def _install(args: argparse.Namespace) -> int:
    from pipeline.pose import models

    try:
        written = models.install(args.names, registry=args.registry or models.NPM_REGISTRY)
    except models.InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(f"installed {path}")
    print("available: " + ", ".join(models.installed()))
    return 0


def _list(args: argparse.Namespace) -> int:
    from pipeline.pose import models

    available = models.installed()
    if args.json:
        print(json.dumps({"installed": available, "known": list(models.MODELS)}))
        return 0
    for name in models.MODELS:
        where = "installed" if name in available else f"missing: {models.install_command(name)}"
        print(f"{name:6s} {where}")
    return 0
