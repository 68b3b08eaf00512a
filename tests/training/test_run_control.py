"""SIGTERM, SIGINT and a second trainer, on real `sdn_tf.train` processes;
the work dir's lock against a holder killed with -9, on a real process.

The smoke config with a random teacher and no text pretraining reaches
Stage I in seconds; long stages leave time to send a signal mid-stage.
Each trainer process costs about a minute here (tracing two steps and an
export), so one scenario runs the busy work dir, the signal and the
resume on the same trainers.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from sdn_tf.training import run_control
from tests import tool_runner

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SMOKE_CFG = os.path.join(REPO_ROOT, "configs", "shapes_smoke.cfg")
START_TIMEOUT_S = 240
STOP_TIMEOUT_S = 60
STAGE1_LINE = re.compile(r"stage1 (\d+)/(\d+)")


def train_command(base, *extra):
  return [
    sys.executable,
    "-m",
    "sdn_tf.train",
    f"--flagfile={SMOKE_CFG}",
    f"--raw_data_dir={base / 'raw'}",
    f"--data_dir={base / 'records'}",
    f"--workdir={base / 'work'}",
    "--teacher_weights=random",
    "--text_pretrain_steps=0",
    "--nofreeze_text_encoder",
    "--text_embedding_std=0",
    "--num_eval_captions=0",
    "--log_every=1",
    "--checkpoint_every=1000",
    *extra,
  ]


def start(command):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  return subprocess.Popen(
    command,
    cwd=REPO_ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    errors="replace",
  )


def read_until(process, pattern, timeout_s):
  """Lines of `process` until one matches `pattern`; returns (match, text)."""
  deadline = time.monotonic() + timeout_s
  seen = []
  for line in process.stdout:
    seen.append(line)
    match = re.search(pattern, line)
    if match:
      return match, "".join(seen)
    if time.monotonic() > deadline:
      break
  process.kill()
  raise AssertionError(f"no {pattern!r} in:\n" + "".join(seen[-40:]))


def checkpoints(base):
  folder = base / "work" / "checkpoints"
  if not folder.is_dir():
    return []
  return sorted(
    int(m.group(1))
    for m in (re.match(r"ckpt-(\d+)\.index$", n) for n in os.listdir(folder))
    if m
  )


def run_to_end(command):
  """Runs `command` to its end, its output captured; never raises."""
  return tool_runner.run_captured(command, START_TIMEOUT_S)


def refused_as_busy(command, holder_pid):
  """Runs `command` on a work dir that `holder_pid` trains in."""
  second = run_to_end(command)
  assert second.returncode == 2, second.stderr[-3000:]
  error = second.stderr.strip().splitlines()[-1]
  assert error.startswith("error: --workdir: "), error
  assert f"in use by pid {holder_pid}" in error, error


@pytest.mark.parametrize(
  "signum",
  # Ctrl-C takes the same path as SIGTERM; one of them is enough for CI.
  [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
)
def test_busy_workdir_is_refused_signal_saves_and_rerun_resumes(
  tmp_path, signum
):
  command = train_command(tmp_path, "--stage1_steps=400", "--stage2_steps=2")
  process = start(command)
  match, _ = read_until(process, STAGE1_LINE.pattern, START_TIMEOUT_S)
  assert int(match.group(1)) < 400
  refused_as_busy(command, process.pid)
  process.send_signal(signum)
  sent = time.monotonic()
  rest, _ = process.communicate(timeout=STOP_TIMEOUT_S)
  assert process.returncode == 0, rest[-3000:]
  assert time.monotonic() - sent < 30, "took too long to stop"
  stopped = re.search(r"stopped by (\w+) at stage1 step (\d+)", rest)
  assert stopped, rest[-3000:]
  assert stopped.group(1) == signal.Signals(signum).name
  step = int(stopped.group(2))
  assert 0 < step < 400
  assert checkpoints(tmp_path)[-1] == step
  assert not (tmp_path / "work" / "export").exists()

  # The same command resumes from that step (fewer steps, to finish fast):
  # the stopped trainer let go of the work dir.
  rerun = run_to_end(
    command[:-2] + [f"--stage1_steps={step + 2}", "--stage2_steps=2"]
  )
  output = rerun.stdout + rerun.stderr
  assert rerun.returncode == 0, output[-3000:]
  assert f"(stage 1, step {step})" in output, output[-3000:]
  assert f"stage1 {step + 1}/{step + 2}" in output
  assert os.listdir(tmp_path / "work" / "export") == ["1"]


# Holds the work dir's lock as the trainer does, until killed.
_HOLD_LOCK = """
import sys, time
from sdn_tf.training import run_control
lock = run_control.hold_workdir_lock(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path):
  workdir = str(tmp_path / "work")
  holder = subprocess.Popen(
    [sys.executable, "-c", _HOLD_LOCK, workdir],
    cwd=REPO_ROOT,
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(
      run_control.WorkdirBusyError, match=f"in use by pid {holder.pid} "
    ):
      run_control.hold_workdir_lock(workdir)
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=STOP_TIMEOUT_S)
  # The stale lock file is still there; the lock itself died with its holder.
  assert os.path.exists(os.path.join(workdir, run_control.LOCK_FILE))
  lock = run_control.hold_workdir_lock(workdir)
  try:
    with open(os.path.join(workdir, run_control.LOCK_FILE)) as f:
      assert f.read().startswith(f"pid {os.getpid()} ")
  finally:
    lock.close()
