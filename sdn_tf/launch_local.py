"""Runs one training on N worker processes of this machine:

    python -m sdn_tf.launch_local --num_workers=2 -- \\
        --flagfile=configs/shapes_smoke.cfg --workdir=runs/two_workers

Each worker is `python -m sdn_tf.train <flags after --> --strategy=
multi_worker_mirrored` with its own `TF_CONFIG` on 127.0.0.1 ports; worker 0
is the chief (the only one that writes the work dir). Their output is
printed line by line, each line prefixed `[worker i]`.

A worker that dies leaves the others waiting in a collective for a peer
that never comes, so the launcher stops them at once and exits 1 with one
line naming the worker; rerunning the same command resumes from the
chief's last checkpoint. SIGTERM or SIGINT to the launcher is passed on to
every worker.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List
from typing import Optional

from absl import app
from absl import flags

from sdn_tf import cli

_PROG = "launch_local"
_NUM_WORKERS = flags.DEFINE_integer(
  "num_workers", 2, "Worker processes to start (>= 1)."
)
_STOP_GRACE_S = flags.DEFINE_float(
  "stop_grace_s",
  30.0,
  "Seconds the workers get to end after SIGTERM (one failed, or the "
  "launcher was signalled) before SIGKILL.",
)


def free_ports(count: int) -> List[int]:
  """`count` distinct ports on 127.0.0.1 that were free a moment ago."""
  sockets = []
  try:
    for _ in range(count):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.bind(("127.0.0.1", 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def tf_config(ports: List[int], index: int) -> str:
  """The `TF_CONFIG` of worker `index` of a cluster on `ports`."""
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  return json.dumps(
    {"cluster": cluster, "task": {"type": "worker", "index": index}}
  )


def check_train_flags(train_flags: List[str]) -> None:
  """The launcher owns --strategy: one given after `--` is a mistake."""
  for flag in train_flags:
    if flag.split("=")[0].lstrip("-") in ("strategy", "num_cpu_devices"):
      cli.fail(
        f"{flag}: the launcher runs every worker with "
        "--strategy=multi_worker_mirrored; leave it out",
        _PROG,
      )


def _describe(returncode: int) -> str:
  if returncode < 0:
    return f"was killed by {signal.Signals(-returncode).name}"
  return f"exited with status {returncode}"


class _Workers:
  """The worker processes and the threads that print their output."""

  def __init__(self, train_flags: List[str], num_workers: int):
    ports = free_ports(num_workers)
    self.processes: List[subprocess.Popen] = []
    self._printers: List[threading.Thread] = []
    self._print_lock = threading.Lock()
    for index in range(num_workers):
      env = dict(os.environ, TF_CONFIG=tf_config(ports, index))
      process = subprocess.Popen(
        [
          sys.executable,
          "-m",
          "sdn_tf.train",
          *train_flags,
          "--strategy=multi_worker_mirrored",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Its own group: a terminal's Ctrl-C reaches the launcher only,
        # which passes it on once.
        start_new_session=True,
      )
      self.processes.append(process)
      self._say(f"[launcher] worker {index}: pid {process.pid}")
      printer = threading.Thread(
        target=self._print_output, args=(index, process), daemon=True
      )
      printer.start()
      self._printers.append(printer)

  def _say(self, line: str) -> None:
    with self._print_lock:
      print(line, flush=True)

  def _print_output(self, index: int, process: subprocess.Popen) -> None:
    for raw in process.stdout:
      self._say(f"[worker {index}] {raw.decode('utf-8', 'replace').rstrip()}")

  def signal_all(self, signum: int) -> None:
    for process in self.processes:
      if process.poll() is None:
        try:
          os.killpg(process.pid, signum)
        except ProcessLookupError:
          pass

  def first_failure(self) -> Optional[int]:
    """The index of a worker that ended badly, if any has."""
    for index, process in enumerate(self.processes):
      code = process.poll()
      if code is not None and code != 0:
        return index
    return None

  def all_done(self) -> bool:
    return all(p.poll() is not None for p in self.processes)

  def stop(self, grace_s: float) -> None:
    """SIGTERM to the workers still running; SIGKILL after `grace_s`."""
    self.signal_all(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while not self.all_done() and time.monotonic() < deadline:
      time.sleep(0.1)
    self.signal_all(signal.SIGKILL)
    for process in self.processes:
      process.wait()

  def finish_printing(self) -> None:
    for printer in self._printers:
      printer.join(timeout=5)


def run(train_flags: List[str], num_workers: int, grace_s: float) -> int:
  """Runs the workers to the end; the launcher's exit status."""
  workers = _Workers(train_flags, num_workers)
  signalled = []

  def pass_on(signum, _frame):
    signalled.append((signal.Signals(signum).name, time.monotonic()))
    workers.signal_all(signum)

  signal.signal(signal.SIGTERM, pass_on)
  signal.signal(signal.SIGINT, pass_on)
  failed = None
  while not workers.all_done():
    failed = workers.first_failure()
    # Workers that must agree on the step to save at can miss each other
    # and wait forever; past the grace period the last checkpoint counts.
    overdue = signalled and time.monotonic() > signalled[0][1] + grace_s
    if failed is not None or overdue:
      workers.stop(grace_s)
      break
    time.sleep(0.2)
  for process in workers.processes:
    process.wait()
  workers.finish_printing()
  # The worker that failed first: the others may have ended by our SIGTERM.
  if failed is None:
    failed = workers.first_failure()
  if failed is None:
    return 0
  code = workers.processes[failed].returncode
  what = f"worker {failed} {_describe(code)}"
  if signalled:
    message = f"stopped by {signalled[0][0]}: {what}"
  elif code == cli.EXIT_USAGE:
    message = f"{what} (its error is above); the others were stopped"
  else:
    message = (
      f"{what}; the other worker(s) were stopped. Rerun the same command "
      "to resume from the last checkpoint."
    )
  print(f"{_PROG}: error: {message}", file=sys.stderr, flush=True)
  return cli.EXIT_USAGE if code == cli.EXIT_USAGE else 1


def main(argv):
  train_flags = argv[1:]
  if _NUM_WORKERS.value < 1:
    cli.fail(f"--num_workers={_NUM_WORKERS.value}: must be >= 1", _PROG)
  if not train_flags:
    cli.fail(
      "no training flags: put them after `--`, e.g. "
      "`-- --flagfile=configs/shapes_smoke.cfg`",
      _PROG,
    )
  check_train_flags(train_flags)
  sys.exit(run(train_flags, _NUM_WORKERS.value, _STOP_GRACE_S.value))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(_PROG))
