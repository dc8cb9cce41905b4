"""Headless Chromium for the browser tests (the website's pages and decks, the grader's feedback pages)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

#: Offline, headless, no first-run or background traffic.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def chromium_executable() -> str | None:
    """Path of a Chromium (or Chrome) on this machine, else ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def run_chromium(
    url: str, profile: Path, *extra: str, budget_ms: int = 15000, timeout: int = 180
) -> subprocess.CompletedProcess:
    """Open ``url`` in headless Chromium with its own ``profile`` folder and ``extra`` flags (``--dump-dom``,
    ``--screenshot=...``), letting scripts run for ``budget_ms`` of virtual time; skips the test without Chromium."""
    exe = chromium_executable()
    if exe is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
