"""A one-line progress bar on stderr (a plain line every few seconds when stderr is not a terminal)."""
from __future__ import annotations

import sys
import time


class Bar:
    def __init__(self, label: str, stream=None, width: int = 28):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, total: int, detail: str = "") -> None:
        now = time.perf_counter()
        if not self.tty and now - self._last < 5 and done < total:
            return
        self._last = now
        frac = done / total if total else 0.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.label} [{bar}] {done}/{total} {now - self.t0:5.1f}s {detail}"[:120]
        if self.tty:
            self.stream.write("\r" + line.ljust(120))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
