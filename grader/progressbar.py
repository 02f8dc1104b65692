"""Progress on stderr: one live bar in a terminal, plain lines when stderr is not a terminal.

``Bar.update(done, total, detail)`` redraws the bar (in a terminal) or prints a line every few
seconds (elsewhere); ``Bar.line(text)`` prints a line above the bar in both cases (grade-many prints
one per finished candidate); ``Bar.tick()`` redraws with the elapsed time updated, so a terminal
never looks stalled while one long test runs.
"""
from __future__ import annotations

import shutil
import sys
import threading
import time


def _fmt_elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}" if m else f"{seconds:4.1f}s"


class Bar:
    def __init__(self, label: str, stream=None, width: int = 28, every: float = 5.0):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every  # seconds between plain lines when not a terminal
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._state = (0, 0, "")
        self._lock = threading.Lock()
        self._drawn = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def _render(self) -> str:
        done, total, detail = self._state
        frac = min(1.0, done / total) if total else 0.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        cols = shutil.get_terminal_size((120, 20)).columns - 1 if self.tty else 200
        return f"{self.label} [{bar}] {done}/{total} {_fmt_elapsed(self.elapsed())} {detail}"[:max(40, cols)]

    def _draw(self) -> None:
        line = self._render()
        self.stream.write("\r\x1b[2K" + line)
        self.stream.flush()
        self._drawn = True

    def update(self, done: int, total: int, detail: str = "") -> None:
        with self._lock:
            self._state = (done, total, detail)
            if self.tty:
                self._draw()
                return
            now = time.perf_counter()
            if now - self._last < self.every and done < total:
                return
            self._last = now
            self.stream.write(self._render() + "\n")
            self.stream.flush()

    def tick(self) -> None:
        """Redraw in a terminal (the elapsed time moves); nothing elsewhere."""
        with self._lock:
            if self.tty and self._drawn:
                self._draw()

    def line(self, text: str) -> None:
        """A line of its own: above the bar in a terminal, a plain line elsewhere."""
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[2K" + text + "\n")
                if self._drawn:
                    self.stream.write(self._render())
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.tty and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = False
