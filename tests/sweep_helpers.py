"""Test helper shared by the sweep and reliability tests: kill a real sweep process mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def sigkill_sweep_after_first_chunk(config: Path, out: Path, *extra_args: str, timeout_s: float = 60.0) -> None:
    """Start `pyspice-mram sweep CONFIG --out OUT` in a subprocess and SIGKILL it once a chunk has landed."""
    proc = subprocess.Popen([sys.executable, "-m", "pyspice_mram", "sweep", str(config), "--out", str(out), "--quiet",
                             *extra_args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "manifest.json"
    deadline = time.time() + timeout_s
    try:
        while time.time() < deadline:
            try:
                if json.loads(manifest.read_text())["chunks"]:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if proc.poll() is not None:
                pytest.fail(f"the sweep ended before it could be killed: {proc.stderr.read().decode()}")
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
