"""What keeps a training run's work dir safe: one trainer at a time, and a
clean stop on SIGTERM or SIGINT.

* `hold_workdir_lock` takes an exclusive `flock` on `<workdir>/.lock` for
  the life of the process. The operating system drops it when the holder
  dies, however it dies, so a killed run never leaves a stale lock; a
  second trainer refuses at once, naming the holder.
* `StopRequest` turns SIGTERM (a preemption notice, `kill`, a scheduler's
  timeout) and SIGINT (Ctrl-C) into a flag that the training loops read
  between steps: the step in flight finishes, a checkpoint is saved, and
  the process exits 0 so that rerunning the same command resumes.
"""

import fcntl
import os
import signal
from typing import IO

from absl import logging

from sdn_tf.utils.errors import UsageError

LOCK_FILE = ".lock"


class WorkdirBusyError(UsageError):
  """Another live process trains in this work dir."""


class Stopped(Exception):
  """Training stopped on request after saving its state."""


def hold_workdir_lock(workdir: str) -> IO:
  """Locks `workdir` for this process; keep the returned file open.

  Raises:
    WorkdirBusyError: naming the process that holds it.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, LOCK_FILE)
  handle = open(path, "a+")  # pylint: disable=consider-using-with
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    handle.seek(0)
    holder = handle.read().strip() or "another process"
    handle.close()
    raise WorkdirBusyError(
      f"{workdir} is in use by {holder}; wait for it to finish or stop it "
      f"(one trainer per work dir)",
      flag="workdir",
    ) from None
  handle.seek(0)
  handle.truncate()
  handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
  handle.flush()
  return handle


class StopRequest:
  """A flag set by SIGTERM/SIGINT while installed (in the main thread)."""

  def __init__(self):
    self.signal_name = None
    self._previous = {}

  def __bool__(self) -> bool:
    return self.signal_name is not None

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    if self.signal_name is not None:
      return  # a second signal while stopping changes nothing
    self.signal_name = signal.Signals(signum).name
    logging.warning(
      "%s received: stopping after the current step", self.signal_name
    )

  def install(self) -> "StopRequest":
    for signum in (signal.SIGTERM, signal.SIGINT):
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def uninstall(self) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}
