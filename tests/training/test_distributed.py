"""`python -m sdn_tf.train` under tf.distribute: MirroredStrategy on two
logical CPU devices, and MultiWorkerMirroredStrategy with two real worker
processes on localhost (TF_CONFIG, gRPC on free ports).

Every run is a subprocess with a timeout, so a hang (a collective waiting
for a peer that never comes) fails the test instead of stalling CI. All
tests take minutes (tracing and compiling the train steps of both stages in
every process; here about 4 minutes for mirrored, 3 for the two workers and
15 s for their resumed rerun), so they are marked slow.

The workers share the data, prepared before they start, and use a random
teacher: each would otherwise prepare the data and pretrain a teacher into
the same directories at the same time.
"""

import dataclasses
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Dict
from typing import List

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_CFG = "configs/shapes_smoke.cfg"
RUN_TIMEOUT_S = 600
PREPARE_TIMEOUT_S = 120
# Two steps a stage: enough to trace, all-reduce and checkpoint every step.
STEP_FLAGS = ["--stage1_steps=2", "--stage2_steps=2"]
LOSS_LINE = re.compile(r"\bstage[12] \d+/\d+ loss=\S+")

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


# Parses the same flags as the trainer and prepares the data they name.
_PREPARE = """
import sys
from sdn_tf import cli
from sdn_tf.data import preparation
cli.define_config_flags()
cli.FLAGS(["prog"] + sys.argv[1:])
print(preparation.ensure_prepared(cli.config_from_flags()))
"""


def prepare_data(flags: List[str]) -> None:
  """Prepares the data once, before workers that would all race to."""
  result = subprocess.run(
    [sys.executable, "-c", _PREPARE, *flags],
    cwd=REPO_ROOT,
    env=_env(),
    capture_output=True,
    text=True,
    timeout=PREPARE_TIMEOUT_S,
    check=False,
  )
  assert result.returncode == 0, _tail(result.stderr)


def free_ports(count: int) -> List[int]:
  """Ports the OS reports free (all held open until every one is picked)."""
  sockets = []
  try:
    for _ in range(count):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.bind(("localhost", 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


@dataclasses.dataclass
class Worker:
  index: int
  returncode: int
  output: str
  tmpdir: str  # Its TMPDIR: where a non-chief keeps its checkpoints.


def run_workers(
  flags: List[str], base, name: str, timeout: float = RUN_TIMEOUT_S
) -> List[Worker]:
  """Runs one `sdn_tf.train` process per worker of a localhost cluster."""
  ports = free_ports(2)
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  processes, logs, tmpdirs = [], [], []
  try:
    for index in range(len(ports)):
      tmpdir = base / f"{name}_tmp{index}"
      tmpdir.mkdir()
      log = open(base / f"{name}_worker{index}.log", "w+")
      tf_config = json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}
      )
      processes.append(
        subprocess.Popen(
          [
            sys.executable,
            "-m",
            "sdn_tf.train",
            *flags,
            "--strategy=multi_worker_mirrored",
          ],
          cwd=REPO_ROOT,
          env=_env(TF_CONFIG=tf_config, TMPDIR=str(tmpdir)),
          stdout=log,
          stderr=subprocess.STDOUT,
          start_new_session=True,
        )
      )
      logs.append(log)
      tmpdirs.append(str(tmpdir))
    deadline = time.monotonic() + timeout
    for process in processes:
      process.wait(timeout=max(deadline - time.monotonic(), 1))
  except subprocess.TimeoutExpired:
    pass  # Reported below, with the logs.
  finally:
    for process in processes:
      if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
  workers = []
  for index, (process, log) in enumerate(zip(processes, logs)):
    log.seek(0)
    workers.append(
      Worker(index, process.returncode, log.read(), tmpdirs[index])
    )
    log.close()
  return workers


def _summary(workers: List[Worker]) -> str:
  return "\n".join(
    f"--- worker {w.index} exited {w.returncode}:\n{_tail(w.output, 25)}"
    for w in workers
  )


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


# --- MultiWorkerMirroredStrategy, two processes ------------------------------


@pytest.fixture(scope="module")
def multi_worker(tmp_path_factory):
  base = tmp_path_factory.mktemp("multi_worker")
  workdir = base / "work"
  flags = [
    *data_flags(base),
    *STEP_FLAGS,
    f"--workdir={workdir}",
    # Each worker would pretrain its own teacher into the same
    # workdir/teacher at once; the teacher is not what is tested here.
    "--teacher_weights=random",
    "--export=false",
  ]
  prepare_data(data_flags(base))
  workers = run_workers(flags, base, "first")
  return base, workdir, flags, workers


def test_two_workers_train_together(multi_worker):
  _, _, _, workers = multi_worker
  assert [w.returncode for w in workers] == [0, 0], _summary(workers)
  for worker in workers:
    assert "num_workers = 2" in worker.output, _tail(worker.output)
  # Synchronous training: the loss reduced over both workers is the same.
  losses = [LOSS_LINE.findall(w.output) for w in workers]
  assert len(losses[0]) == 2, _summary(workers)
  assert losses[0] == losses[1], losses


def test_only_the_chief_writes_to_the_workdir(multi_worker):
  _, workdir, _, workers = multi_worker
  assert [w.returncode for w in workers] == [0, 0], _summary(workers)
  assert (workdir / "checkpoints" / "ckpt-4.index").is_file()
  assert (workdir / "config.json").is_file()
  assert len(glob.glob(str(workdir / "train" / "events.out.tfevents.*"))) == 1
  # The non-chief saves too (saving is collective), but into its TMPDIR.
  chief, other = workers
  assert not glob.glob(os.path.join(chief.tmpdir, "sdn_worker_ckpt_*"))
  assert glob.glob(
    os.path.join(other.tmpdir, "sdn_worker_ckpt_*", "ckpt-4.index")
  )


def test_two_workers_resume_together(multi_worker):
  # Both resume from the chief's checkpoints (a non-chief's own checkpoint
  # dir is a fresh temporary one): neither trains Stage I again.
  base, _, flags, first = multi_worker
  assert [w.returncode for w in first] == [0, 0], _summary(first)
  workers = run_workers(flags, base, "rerun", timeout=300)
  assert [w.returncode for w in workers] == [0, 0], _summary(workers)
  for worker in workers:
    assert re.search(
      r"Resumed from \S*/work/checkpoints/ckpt-4 \(stage 3, "
      r"step 4\)",
      worker.output,
    ), _tail(worker.output)
    assert "Stage 1:" not in worker.output, _tail(worker.output)
