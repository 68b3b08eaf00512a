"""Every path flag through tf.io.gfile: a smoke training run, a resume and
two exports with the raw data, prepared data and work dir all on
TensorFlow's in-memory `ram://` file system (as users put them on gs://).

ram:// lives in one process's memory, so the run, the rerun and the checks
happen in one real process (remote_paths_run.py); a resume across
processes is tested on local disk by test_train_end_to_end.
"""

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
SCRIPT = os.path.join(REPO_ROOT, "tests", "training", "remote_paths_run.py")
TIMEOUT_S = 900


@pytest.mark.slow
def test_training_resume_and_export_work_on_ram_urls(tmp_path):
  # Local paths the cfg names must stay untouched: point them elsewhere.
  run = subprocess.run(
    [
      sys.executable,
      SCRIPT,
      "--flagfile=configs/shapes_smoke.cfg",
      "--pretrain_steps=4",
      "--stage1_steps=2",
      "--stage2_steps=2",
      # Tracing, not training, is what takes the time at this size.
      "--jit_compile=false",
    ],
    cwd=REPO_ROOT,
    env=dict(os.environ, PYTHONPATH=REPO_ROOT, HOME=str(tmp_path)),
    capture_output=True,
    text=True,
    errors="replace",
    timeout=TIMEOUT_S,
    check=False,
  )
  output = run.stdout + run.stderr
  assert run.returncode == 0, output[-4000:]
  result = json.loads(
    next(
      line[len("RESULT ") :]
      for line in run.stdout.splitlines()
      if line.startswith("RESULT ")
    )
  )
  work = "ram://sdn/work"
  # The second run resumed from the first's last checkpoint (stage 1 + 2
  # steps, then 2 more), reused the caches and exported.
  assert result["steps"] == [4, 6]
  assert "Resumed from ram://sdn/work/checkpoints/ckpt-4" in output
  assert "Reusing the pretrained teacher ram://sdn/work/teacher/" in output
  assert result["exports"] == [None, f"{work}/export/1"]
  assert result["versions"] == [1]
  assert {"config.json", "checkpoints", "train", "teacher", "export"} <= set(
    result["workdir"]
  )
  assert "metadata.json" in result["records"]
  assert result["num_events"] > 0
  # The SavedModel loaded back from ram:// draws a 32 px image.
  assert result["image_shape"] == [1, 32, 32, 3]
  assert result["image_dtype"] == "uint8"
  # No lock on a URL: the run says so instead of failing.
  assert "cannot be locked" in output
