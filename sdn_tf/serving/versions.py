"""Version directories under an export root, TF Serving's layout.

TF Serving watches `<root>/` and serves the highest integer version that
holds a SavedModel. These helpers make a new version appear all at once
and never take one from another writer:

  * a SavedModel is written under a private `.partial-*` directory, flushed
    to disk, then renamed to the lowest free version number; when another
    exporter took that number first the rename fails and the next is tried
    (a version directory is never empty, so rename(2) cannot replace one);
  * `prune` removes the oldest complete versions beyond a count, and never
    touches a `.partial-*` directory of a live exporter (those of dead
    processes on this host are cleared);
  * `find_fingerprint` finds a version whose `assets.extra/` records the same
    fingerprint, so that exporting the same weights again adds nothing.
"""

import errno
import json
import os
import shutil
import socket
import tempfile
from typing import Optional

from absl import logging

from sdn_tf.training import workdir as workdir_lib

PARTIAL_PREFIX = ".partial-"
EXTRA_DIR = "assets.extra"
# What sdn_tf records about each version, beside TF Serving's extras.
EXPORT_INFO_FILE = "sdn_export.json"
# rename(2) gives these when the target is a non-empty directory.
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY)


def _owner_tag() -> str:
  return f"{socket.gethostname()}-{os.getpid()}-"


def make_partial_dir(export_root: str) -> str:
  """A new private directory under `export_root` to write a version into,
  named after this host and process so that a dead one's can be cleared."""
  os.makedirs(export_root, exist_ok=True)
  remove_stale_partials(export_root)
  path = tempfile.mkdtemp(prefix=PARTIAL_PREFIX + _owner_tag(), dir=export_root)
  # mkdtemp's 0700 would hide the version from a server running as another
  # user (TF Serving's container); give it what a plain mkdir would.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(path, 0o777 & ~umask)
  return path


def _process_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # alive, someone else's
  return True


def remove_stale_partials(export_root: str) -> None:
  """Deletes the partial versions of exporters on this host that died
  (killed mid-write); another host's, or a live process's, are left."""
  host = socket.gethostname()
  for name in os.listdir(export_root):
    if not name.startswith(PARTIAL_PREFIX + host + "-"):
      continue
    pid = name[len(PARTIAL_PREFIX + host + "-") :].split("-", 1)[0]
    if pid.isdigit() and not _process_alive(int(pid)):
      shutil.rmtree(os.path.join(export_root, name), ignore_errors=True)
      logging.info("Removed %s, left by a dead exporter", name)


def flush_tree(path: str) -> None:
  """fsyncs every file under `path`, then each directory, so that a crash
  after the rename cannot leave a version with missing bytes."""
  for folder, _, files in os.walk(path):
    for name in files:
      with open(os.path.join(folder, name), "rb") as f:
        os.fsync(f.fileno())
  for folder, _, _ in os.walk(path, topdown=False):
    descriptor = os.open(folder, os.O_RDONLY)
    try:
      os.fsync(descriptor)
    finally:
      os.close(descriptor)


def publish(partial: str, export_root: str) -> str:
  """Renames `partial` to the lowest free version; returns the new path."""
  version = max(workdir_lib.export_versions(export_root), default=0) + 1
  while True:
    final = os.path.join(export_root, str(version))
    try:
      os.rename(partial, final)
    except OSError as e:
      if e.errno not in _TAKEN:
        raise
      version += 1  # another exporter took it between our look and rename
      continue
    logging.info("SavedModel version %d written to %s", version, final)
    return final


def write_export_info(saved_model_dir: str, info: dict) -> None:
  extra = os.path.join(saved_model_dir, EXTRA_DIR)
  os.makedirs(extra, exist_ok=True)
  with open(os.path.join(extra, EXPORT_INFO_FILE), "w") as f:
    json.dump(info, f, indent=2, sort_keys=True)


def read_export_info(saved_model_dir: str) -> dict:
  """The version's recorded info; {} for exports without one."""
  path = os.path.join(saved_model_dir, EXTRA_DIR, EXPORT_INFO_FILE)
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def find_fingerprint(export_root: str, fingerprint: str) -> Optional[str]:
  """The newest complete version recorded with `fingerprint`, or None."""
  for version in reversed(
    workdir_lib.export_versions(export_root, complete_only=True)
  ):
    path = os.path.join(export_root, str(version))
    if read_export_info(path).get("fingerprint") == fingerprint:
      return path
  return None


def prune(export_root: str, keep: int) -> None:
  """Deletes all but the newest `keep` complete versions (keep <= 0: none)."""
  if keep <= 0:
    return
  versions = workdir_lib.export_versions(export_root, complete_only=True)
  for version in versions[:-keep]:
    path = os.path.join(export_root, str(version))
    shutil.rmtree(path, ignore_errors=True)
    logging.info("Removed export version %d (--keep_exports=%d)", version, keep)
