"""What keeps a training run's work dir safe: one trainer at a time, and a
clean stop on SIGTERM or SIGINT.

* `hold_workdir_lock` takes an exclusive `flock` on `<workdir>/.lock` for
  the life of the process. The operating system drops it when the holder
  dies, however it dies, so a killed run never leaves a stale lock; a
  second trainer refuses at once, naming the holder. A work dir given as a
  URL (gs://, ram://) has no such lock: object stores have no flock, and a
  lock file there would outlive a killed holder.
* `StopRequest` turns SIGTERM (a preemption notice, `kill`, a scheduler's
  timeout) and SIGINT (Ctrl-C) into a flag that the training loops read
  between steps: the step in flight finishes, a checkpoint is saved, and
  the process exits 0 so that rerunning the same command resumes.
"""

import fcntl
import os
import signal
from typing import IO
from typing import Optional

from absl import logging

from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

LOCK_FILE = ".lock"


class WorkdirBusyError(UsageError):
  """Another live process trains in this work dir."""


class Stopped(Exception):
  """Training stopped on request after saving its state."""


def hold_workdir_lock(workdir: str) -> Optional[IO]:
  """Locks a local `workdir` for this process; keep the returned file open.
  Returns None, with a warning, for a URL.

  Raises:
    WorkdirBusyError: naming the process that holds it.
  """
  if not files.is_local(workdir):
    logging.warning(
      "--workdir=%s is not on a local file system: it cannot be locked, so "
      "make sure no other trainer uses it",
      workdir,
    )
    return None
  workdir = files.absolute(workdir)
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
