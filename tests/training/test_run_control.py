"""SIGTERM, SIGINT and a second trainer, on real `sdn_tf.train` processes.

The smoke config with a random teacher and no text pretraining reaches
Stage I in seconds; long stages leave time to send a signal mid-stage.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

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


@pytest.mark.parametrize(
  "signum",
  # Ctrl-C takes the same path as SIGTERM; one of them is enough for CI.
  [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
)
def test_a_signal_saves_the_step_and_exits_0_then_rerun_resumes(
  tmp_path, signum
):
  command = train_command(tmp_path, "--stage1_steps=400", "--stage2_steps=2")
  process = start(command)
  match, _ = read_until(process, STAGE1_LINE.pattern, START_TIMEOUT_S)
  assert int(match.group(1)) < 400
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

  # The same command resumes from that step (fewer steps, to finish fast).
  rerun = subprocess.run(
    command[:-2] + [f"--stage1_steps={step + 2}", "--stage2_steps=2"],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    errors="replace",
    timeout=START_TIMEOUT_S,
    check=False,
  )
  output = rerun.stdout + rerun.stderr
  assert rerun.returncode == 0, output[-3000:]
  assert f"(stage 1, step {step})" in output, output[-3000:]
  assert f"stage1 {step + 1}/{step + 2}" in output
  assert os.listdir(tmp_path / "work" / "export") == ["1"]


def test_a_second_trainer_on_a_busy_workdir_refuses_naming_the_first(tmp_path):
  command = train_command(tmp_path, "--stage1_steps=400", "--stage2_steps=2")
  first = start(command)
  try:
    read_until(first, STAGE1_LINE.pattern, START_TIMEOUT_S)
    second = subprocess.run(
      command,
      cwd=REPO_ROOT,
      capture_output=True,
      text=True,
      errors="replace",
      timeout=START_TIMEOUT_S,
      check=False,
    )
    assert second.returncode == 2, second.stderr[-3000:]
    error = second.stderr.strip().splitlines()[-1]
    assert error.startswith("error: --workdir: ")
    assert f"in use by pid {first.pid}" in error
  finally:
    first.kill()
    first.wait()
  # Killed with -9, the holder leaves no stale lock: a new run may start.
  third = start(command[:-2] + ["--stage1_steps=1", "--stage2_steps=1"])
  out, _ = third.communicate(timeout=START_TIMEOUT_S)
  assert third.returncode == 0, out[-3000:]
