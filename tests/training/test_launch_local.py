"""`python -m sdn_tf.launch_local`: one training on two real worker
processes (MultiWorkerMirroredStrategy over gRPC on 127.0.0.1).

The fast test trains a tiny model for two Stage-I steps (the slow suite's
tests/training/test_distributed.py runs both stages with the export); the
kill test is slow.
"""

import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RUN_TIMEOUT_S = 300
LOSS_LINE = re.compile(r"\bstage1 \d+/\d+ loss=\S+")


def _train_flags(base, **overrides):
  values = {
    "flagfile": "configs/shapes_smoke.cfg",
    "raw_data_dir": base / "raw",
    "data_dir": base / "records",
    "workdir": base / "work",
    # The parts a worker runs alone (teacher and text pretraining) are
    # not what is tested here.
    "teacher_weights": "random",
    "text_pretrain_steps": 0,
    "freeze_text_encoder": "false",
    "text_embedding_std": 0,
    "stage1_steps": 2,
    "stage2_steps": 0,
    "stage2_epochs": 0,
    "log_every": 1,
    "checkpoint_every": 1,
    "num_eval_captions": 0,
    "export": "false",
  }
  values.update(overrides)
  return [f"--{name}={value}" for name, value in values.items()]


def _launch(args, tmpdir, timeout=RUN_TIMEOUT_S, **popen):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  env["TMPDIR"] = str(tmpdir)  # where the non-chief keeps its checkpoints
  os.makedirs(tmpdir, exist_ok=True)
  return subprocess.Popen(
    [sys.executable, "-m", "sdn_tf.launch_local", *args],
    cwd=REPO_ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    errors="replace",
    start_new_session=True,
    **popen,
  )


def _finish(process, timeout=RUN_TIMEOUT_S):
  try:
    output, _ = process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    os.killpg(process.pid, signal.SIGKILL)
    output, _ = process.communicate()
    pytest.fail(f"launch_local did not end in {timeout}s:\n{output[-3000:]}")
  return process.returncode, output


def _worker_lines(output, index):
  prefix = f"[worker {index}] "
  return [
    line[len(prefix) :]
    for line in output.splitlines()
    if line.startswith(prefix)
  ]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
  base = tmp_path_factory.mktemp("launch_local")
  process = _launch(
    ["--num_workers=2", "--", *_train_flags(base)], base / "tmp"
  )
  code, output = _finish(process)
  return base, code, output


def test_two_workers_train_in_step(two_workers):
  _, code, output = two_workers
  assert code == 0, output[-3000:]
  for index in (0, 1):
    lines = "\n".join(_worker_lines(output, index))
    assert "num_workers = 2" in lines, lines[-2000:]
  # Synchronous training: the loss, reduced over both workers, is the same.
  losses = [
    LOSS_LINE.findall("\n".join(_worker_lines(output, i))) for i in (0, 1)
  ]
  assert len(losses[0]) == 2, output[-3000:]
  assert losses[0] == losses[1]


def test_only_the_chief_writes_and_both_end_with_the_same_weights(two_workers):
  base, code, output = two_workers
  assert code == 0, output[-3000:]
  workdir = base / "work"
  assert (workdir / "checkpoints" / "ckpt-2.index").is_file()
  assert (workdir / "config.json").is_file()
  assert len(glob.glob(str(workdir / "train" / "events.out.tfevents.*"))) == 1
  # The non-chief saved too (saving is collective), into its TMPDIR, and
  # removed them at the end.
  assert not glob.glob(str(base / "tmp" / "sdn_worker_ckpt_*" / "*"))
  digests = [
    re.findall(r"Student weights after training: (sha256:\w+)", line)
    for line in ("\n".join(_worker_lines(output, i)) for i in (0, 1))
  ]
  assert len(digests[0]) == 1 and digests[0] == digests[1], output[-3000:]


@pytest.mark.parametrize(
  "args, message",
  [
    (["--", "--strategy=mirrored"], "--strategy=mirrored: the launcher runs"),
    ([], "no training flags"),
    (["--num_workers=0", "--", "--seed=1"], "--num_workers=0: must be >= 1"),
  ],
)
def test_a_bad_command_line_is_one_line_and_status_2(tmp_path, args, message):
  code, output = _finish(_launch(args, tmp_path), timeout=120)
  assert code == 2
  assert output.strip().splitlines()[-1].startswith("launch_local: error: ")
  assert message in output


def test_a_worker_s_usage_error_ends_the_launch_without_a_resume_hint(tmp_path):
  flags = _train_flags(tmp_path, text_embedding_std=0.3)
  code, output = _finish(_launch(["--num_workers=2", "--", *flags], tmp_path))
  assert code == 2, output[-3000:]
  assert "error: --text_embedding_std: whitens the pretrained encoder" in output
  assert (
    output.strip().splitlines()[-1].startswith("launch_local: error: worker ")
  )
  assert "Rerun" not in output


@pytest.mark.slow
def test_a_killed_worker_stops_the_other_and_a_rerun_resumes(tmp_path):
  flags = _train_flags(tmp_path, stage1_steps=400, checkpoint_every=2)
  process = _launch(["--num_workers=2", "--", *flags], tmp_path / "tmp")
  pids, lines = {}, []
  deadline = time.monotonic() + RUN_TIMEOUT_S
  for line in process.stdout:
    lines.append(line)
    found = re.match(r"\[launcher\] worker (\d): pid (\d+)", line)
    if found:
      pids[int(found.group(1))] = int(found.group(2))
    if line.startswith("[worker 1] ") and "stage1 4/400" in line:
      break
    assert time.monotonic() < deadline, "".join(lines[-40:])
  os.kill(pids[1], signal.SIGKILL)
  killed_at = time.monotonic()
  code, output = _finish(process, timeout=120)
  output = "".join(lines) + output
  assert code == 1, output[-3000:]
  assert time.monotonic() - killed_at < 60
  assert (
    "launch_local: error: worker 1 was killed by SIGKILL; the other "
    "worker(s) were stopped" in output
  )

  rerun = _train_flags(tmp_path, stage1_steps=6, checkpoint_every=2)
  code, output = _finish(_launch(["--", *rerun], tmp_path / "tmp2"))
  assert code == 0, output[-3000:]
  assert re.search(
    r"Resumed from \S+/ckpt-\d+ \(stage 1, step [4-9]", output
  ), output[-3000:]
