"""`python -m sdn_tf.train` under MirroredStrategy on two logical CPU
devices: both stages, checkpoints and the export (about 4 minutes here:
tracing and compiling the train steps of both stages, so it is slow).

Two worker processes (MultiWorkerMirroredStrategy) are tested through
their launcher in test_launch_local.py, and one mirrored step against a
single-device step in test_mirrored_equivalence.py.
"""

import os
import re
import subprocess
import sys
from typing import Dict
from typing import List

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_CFG = "configs/shapes_smoke.cfg"
RUN_TIMEOUT_S = 600
# Two steps a stage: enough to trace, all-reduce and checkpoint every step.
STEP_FLAGS = ["--stage1_steps=2", "--stage2_steps=2"]

pytestmark = pytest.mark.slow


def _env(**extra: str) -> Dict[str, str]:
  env = {
    k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CONFIG")
  }
  env.update(extra)
  return env


def _tail(text: str, lines: int = 40) -> str:
  return "\n".join(text.splitlines()[-lines:])


def data_flags(base) -> List[str]:
  return [
    f"--flagfile={SMOKE_CFG}",
    f"--raw_data_dir={base / 'raw'}",
    f"--data_dir={base / 'records'}",
  ]


# --- MirroredStrategy, one process, two CPU devices -------------------------


def test_mirrored_on_two_cpu_devices(tmp_path):
  workdir = tmp_path / "work"
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "sdn_tf.train",
      *data_flags(tmp_path),
      *STEP_FLAGS,
      "--strategy=mirrored",
      "--num_cpu_devices=2",
      f"--workdir={workdir}",
    ],
    cwd=REPO_ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    errors="replace",
    timeout=RUN_TIMEOUT_S,
    check=False,
  )
  output = result.stdout + result.stderr
  assert result.returncode == 0, _tail(output)
  assert re.search(
    r"Using MirroredStrategy with devices \([^)]*CPU:0[^)]*"
    r"CPU:1",
    output,
  ), _tail(output)
  assert "stage1 2/2 loss=" in output and "stage2 2/2 loss=" in output
  assert (workdir / "checkpoints" / "ckpt-4.index").is_file()
  # The generator trained with mirrored variables exports like any other.
  assert (workdir / "export" / "1" / "saved_model.pb").is_file()
