"""Runs programs as a user does: a real process, its output captured as
text, never raising on a non-zero exit (the tests read the exit code)."""

import os
import subprocess
import sys
from typing import Dict
from typing import Optional
from typing import Sequence

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_captured(
  command: Sequence[str],
  timeout: float,
  cwd: str = REPO_ROOT,
  env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess:
  """Runs `command` in `cwd` to its end; `env` replaces the environment."""
  return subprocess.run(
    list(command),
    cwd=cwd,
    env=env,
    capture_output=True,
    text=True,
    # A traceback cut mid-character must still reach the assertion message.
    errors="replace",
    timeout=timeout,
    check=False,
  )


def run_tool(
  script: str,
  *args: str,
  timeout: float = 300,
  env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess:
  """`python tools/<script> <args>` from the repository root."""
  return run_captured(
    [sys.executable, os.path.join(REPO_ROOT, "tools", script), *args],
    timeout,
    env=env,
  )
