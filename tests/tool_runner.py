"""Runs a script of tools/ as a user does: a real process started from the
repository root, its output captured, never raising on a non-zero exit."""

import os
import subprocess
import sys
from typing import Dict
from typing import Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(
  script: str,
  *args: str,
  timeout: float = 300,
  env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess:
  """`python tools/<script> <args>`; `env` replaces the environment."""
  return subprocess.run(
    [sys.executable, os.path.join(REPO_ROOT, "tools", script), *args],
    cwd=REPO_ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
