"""Progress on the command line: on a terminal, one bar per video redrawn in place; piped, a
plain line when a video's stage changes or its progress passes another tenth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

BAR_WIDTH = 24
_UP_AND_CLEAR = "\x1b[{n}F"  # to the start of the line n lines up
_CLEAR_LINE = "\x1b[2K"


@dataclass
class _Row:
    stage: str = "waiting"
    percent: int = 0
    note: str = ""
    printed: tuple[str, int] = ("", -1)  # piped: the last stage and tenth written


class ProgressBoard:
    """The progress of several named items (videos, jobs), each at a stage and a percent."""

    def __init__(self, names: list[str], stream: TextIO, *, terminal: bool):
        self.stream, self.terminal = stream, terminal
        self.rows = {name: _Row() for name in names}
        self.width = max((len(name) for name in names), default=0)
        self._drawn = 0

    def update(self, name: str, stage: str, percent: int | float, note: str = "") -> None:
        row = self.rows[name]
        row.stage, row.percent, row.note = stage, max(0, min(100, int(percent))), note
        if self.terminal:
            self._draw()
            return
        tenth = row.percent // 10
        if (row.stage, tenth) != row.printed:
            row.printed = (row.stage, tenth)
            extra = f" {note}" if note else ""
            self.stream.write(f"{name}: {row.stage} {row.percent}%{extra}\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own, above the bars."""
        if self.terminal and self._drawn:
            self.stream.write(_UP_AND_CLEAR.format(n=self._drawn))
            self.stream.write(_CLEAR_LINE + text + "\n")
            self._drawn = 0
            self._draw()
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _draw(self) -> None:
        out = [_UP_AND_CLEAR.format(n=self._drawn)] if self._drawn else []
        for name, row in self.rows.items():
            filled = round(BAR_WIDTH * row.percent / 100)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            note = f"  {row.note}" if row.note else ""
            out.append(
                f"{_CLEAR_LINE}{name:<{self.width}}  [{bar}] {row.percent:3d}%  {row.stage}{note}\n"
            )
        self.stream.write("".join(out))
        self.stream.flush()
        self._drawn = len(self.rows)
