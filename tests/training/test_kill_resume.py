"""kill -9 at six moments of one training run, rerunning the same command
after each: it resumes from the last complete checkpoint, in the right
stage and step, and finishes with the export an uninterrupted run makes,
bit for bit (under --deterministic).

Slow (seven real trainings of the smoke config, a few minutes): out of CI,
run with `pytest -m slow tests/training/test_kill_resume.py`.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SMOKE_CFG = os.path.join(REPO_ROOT, "configs", "shapes_smoke.cfg")
STAGE1_STEPS, STAGE2_STEPS = 8, 6
RUN_TIMEOUT_S = 600
RESUMED = re.compile(
  r"Resumed from (\S+)/ckpt-(\d+) \(stage (\d), step (\d+)\)"
)

pytestmark = pytest.mark.slow


def _command(base, data):
  return [
    sys.executable,
    "-m",
    "sdn_tf.train",
    f"--flagfile={SMOKE_CFG}",
    f"--raw_data_dir={data / 'raw'}",
    f"--data_dir={data / 'records'}",
    f"--workdir={base / 'work'}",
    f"--stage1_steps={STAGE1_STEPS}",
    f"--stage2_steps={STAGE2_STEPS}",
    "--log_every=1",
    "--checkpoint_every=2",
    "--deterministic",
  ]


def _env():
  return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


# Images of the same captions and seeds from two exports, in a fresh process.
_COMPARE = """
import sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the export's text ops)

text = tf.constant([b"a small red circle on the left", b"a big blue square",
                    b"a green cross on a white background", b""])
seed = tf.constant([0, 1, 2, 3], tf.int64)
images = [
  tf.saved_model.load(path).signatures["generate"](text=text, seed=seed)
  ["image"].numpy()
  for path in sys.argv[1:]
]
difference = np.abs(images[0].astype(int) - images[1].astype(int))
print("DIFFERENCE", int(difference.max()), int((difference > 0).sum()))
"""


def _complete_checkpoints(base):
  folder = base / "work" / "checkpoints"
  if not folder.is_dir():
    return []
  return sorted(
    int(m.group(1))
    for m in (re.fullmatch(r"ckpt-(\d+)\.index", n) for n in os.listdir(folder))
    if m
  )


class _Run:
  """A trainer process whose output is read on a thread."""

  def __init__(self, base, data):
    self.process = subprocess.Popen(
      _command(base, data),
      cwd=REPO_ROOT,
      env=_env(),
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      errors="replace",
    )
    self.lines = []
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.process.stdout:
      self.lines.append(line)

  @property
  def output(self):
    return "".join(self.lines)

  def kill_when(self, moment, timeout_s=RUN_TIMEOUT_S):
    """SIGKILLs the process as soon as `moment()` is true; returns when dead."""
    deadline = time.monotonic() + timeout_s
    while not moment(self):
      assert self.process.poll() is None, (
        "the run ended before the moment to kill it:\n" + self.output[-3000:]
      )
      assert time.monotonic() < deadline, self.output[-3000:]
      time.sleep(0.005)
    self.process.send_signal(signal.SIGKILL)
    self.process.wait(timeout=60)
    self._reader.join(timeout=60)

  def finish(self):
    self.process.wait(timeout=RUN_TIMEOUT_S)
    self._reader.join(timeout=60)
    return self.process.returncode


def _logged(pattern):
  return lambda run: re.search(pattern, run.output) is not None


def _exists_in(folder, part):
  def moment(run):
    del run
    return folder.is_dir() and any(part in n for n in os.listdir(folder))

  return moment


def test_kill_9_six_times_then_the_same_command_finishes(tmp_path):
  data = tmp_path / "data"
  whole = tmp_path / "uninterrupted"
  uninterrupted = _Run(whole, data)
  assert uninterrupted.finish() == 0, uninterrupted.output[-4000:]

  base = tmp_path / "killed"
  checkpoints = base / "work" / "checkpoints"
  exports = base / "work" / "export"
  moments = [
    ("teacher pretraining", _logged(r"teacher pretraining [1-9]\d*/")),
    ("text pretraining", _logged(r"Text pretraining: ")),
    ("mid Stage I", _logged(rf"stage1 3/{STAGE1_STEPS}")),
    # TF writes a checkpoint under ckpt-N_temp, then renames it.
    ("writing a checkpoint", _exists_in(checkpoints, "_temp")),
    ("mid Stage II", _logged(rf"stage2 3/{STAGE2_STEPS}")),
    ("writing the export", _exists_in(exports, ".partial-")),
  ]
  runs = []
  for name, moment in moments:
    run = _Run(base, data)
    run.kill_when(moment)
    runs.append((name, run, _complete_checkpoints(base)))
  last = _Run(base, data)
  assert last.finish() == 0, last.output[-4000:]
  runs.append(("none", last, None))

  # Each rerun resumed from the newest checkpoint its predecessor completed.
  for (name, _, complete), (_, rerun, _) in zip(runs, runs[1:]):
    resumed = RESUMED.search(rerun.output)
    if not complete:
      assert resumed is None, f"after a kill {name}: {resumed.group(0)}"
      continue
    assert resumed, f"no resume after a kill {name}:\n{rerun.output[-3000:]}"
    assert int(resumed.group(2)) == complete[-1], (name, complete)
    assert int(resumed.group(4)) == complete[-1], (name, resumed.group(0))

  # Pretraining killed midway was redone, never taken from a half cache.
  assert "Teacher pretrained in" in runs[1][1].output
  assert "Text pretraining done" in runs[2][1].output
  # The export killed midway left no version behind; the last run exported
  # exactly one, complete.
  versions = sorted(n for n in os.listdir(exports) if n.isdigit())
  assert versions == ["1"], os.listdir(exports)
  assert _complete_checkpoints(base)[-1] == STAGE1_STEPS + STAGE2_STEPS
  # The save cut short left ckpt-N_temp; the next run removed it.
  assert not [n for n in os.listdir(checkpoints) if n.endswith("_temp")]

  # What it draws is what the uninterrupted run draws, bit for bit.
  compared = subprocess.run(
    [
      sys.executable,
      "-c",
      _COMPARE,
      str(whole / "work" / "export" / "1"),
      str(exports / "1"),
    ],
    cwd=str(tmp_path),
    env=_env(),
    capture_output=True,
    text=True,
    timeout=RUN_TIMEOUT_S,
    check=False,
  )
  assert compared.returncode == 0, compared.stderr[-3000:]
  assert "DIFFERENCE 0 0" in compared.stdout, compared.stdout
