"""The motion export formats, in their order (no numerical library: the CLI's argument parser
checks them before anything heavy is imported)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.outputs import EXPORT_FORMATS


def checked_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """The formats in the order of `EXPORT_FORMATS`, each once; ValueError naming an unknown one."""
    wanted = set(formats)
    unknown = sorted(wanted - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(
            f"unknown export format {unknown[0]!r}; known: {', '.join(EXPORT_FORMATS)}"
        )
    return tuple(fmt for fmt in EXPORT_FORMATS if fmt in wanted)
