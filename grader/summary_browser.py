"""The HTML summary in a real browser: headless Chromium, for the project's suite and the docs' pictures.

On Debian/Ubuntu: ``apt-get install -y chromium-headless-shell`` (or ``chromium``). Runs as root need
``--no-sandbox`` (Chromium's own sandbox; the page is our own summary, not a submission).

    python -m grader.summary_browser grades/summary.html docs/img/summary.png '#open=alice'
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    """The first headless-capable Chromium on PATH (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM", ""), *_NAMES):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    exe = find_browser()
    if exe is None:
        raise FileNotFoundError("no Chromium found: apt-get install -y chromium-headless-shell")
    base = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-extensions", "--virtual-time-budget=2000"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout, check=True)


def dump_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM after its scripts ran (``fragment`` like ``#sort=score-desc``)."""
    return _run(["--dump-dom", Path(page).resolve().as_uri() + fragment]).stdout


def screenshot(page: Path, png: Path, fragment: str = "", size: tuple[int, int] = (1280, 900)) -> Path:
    """A PNG of the page as a browser shows it, ``size`` = (width, height) of the window."""
    png = Path(png).resolve()
    _run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
          Path(page).resolve().as_uri() + fragment])
    return png


if __name__ == "__main__":
    frag = sys.argv[3] if len(sys.argv) > 3 else ""
    w, h = (int(v) for v in (sys.argv[4] if len(sys.argv) > 4 else "1280x900").split("x"))
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2]), frag, (w, h)))
