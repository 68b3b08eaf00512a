"""Version directories under an export root, TF Serving's layout.

TF Serving watches `<root>/` and serves the highest integer version that
holds a SavedModel. These helpers make a new version appear all at once
and never take one from another writer:

  * a SavedModel is written under a private `.partial-*` directory, flushed
    to disk, then renamed to the lowest free version number; when another
    exporter took that number first the rename fails and the next is tried
    (a version directory is never empty, so rename(2) cannot replace one).
    Where the root is a URL with no directory rename (gs://, ram://) the
    files are copied, saved_model.pb last: servers and `latest_export` take
    a version only once it has one;
  * `prune` removes the oldest complete versions beyond a count, and never
    touches a `.partial-*` directory of a live exporter (those of dead
    processes on this host are cleared);
  * `find_fingerprint` finds a version whose `assets.extra/` records the same
    fingerprint, so that exporting the same weights again adds nothing.
"""

import os
import socket
from typing import Optional
import uuid

from absl import logging

from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import files

PARTIAL_PREFIX = ".partial-"
EXTRA_DIR = "assets.extra"
# What sdn_tf records about each version, beside TF Serving's extras.
EXPORT_INFO_FILE = "sdn_export.json"
# Copied last when a version cannot be renamed into place in one step.
_COMMIT_FILES = ("saved_model.pb", "fingerprint.pb")


def _owner_tag() -> str:
  return f"{socket.gethostname()}-{os.getpid()}-"


def make_partial_dir(export_root: str) -> str:
  """A new private directory under `export_root` to write a version into,
  named after this host and process so that a dead one's can be cleared."""
  files.makedirs(export_root)
  remove_stale_partials(export_root)
  # A plain mkdir, not mkdtemp: mkdtemp's 0700 would hide the version from
  # a server running as another user (TF Serving's container).
  path = files.join(
    export_root, PARTIAL_PREFIX + _owner_tag() + uuid.uuid4().hex[:8]
  )
  files.makedirs(path)
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
  for name in files.listdir(export_root):
    if not name.startswith(PARTIAL_PREFIX + host + "-"):
      continue
    pid = name[len(PARTIAL_PREFIX + host + "-") :].split("-", 1)[0]
    if pid.isdigit() and not _process_alive(int(pid)):
      files.rmtree(files.join(export_root, name), ignore_errors=True)
      logging.info("Removed %s, left by a dead exporter", name)


def publish(partial: str, export_root: str) -> str:
  """Renames `partial` to the lowest free version; returns the new path."""
  version = max(workdir_lib.export_versions(export_root), default=0) + 1
  while True:
    final = files.join(export_root, str(version))
    try:
      files.move_dir(partial, final, last=_COMMIT_FILES)
    except FileExistsError:
      version += 1  # another exporter took it between our look and rename
      continue
    logging.info("SavedModel version %d written to %s", version, final)
    return final


def write_export_info(saved_model_dir: str, info: dict) -> None:
  extra = files.join(saved_model_dir, EXTRA_DIR)
  files.makedirs(extra)
  files.write_json(
    files.join(extra, EXPORT_INFO_FILE), dict(sorted(info.items()))
  )


def read_export_info(saved_model_dir: str) -> dict:
  """The version's recorded info; {} for exports without one."""
  path = files.join(saved_model_dir, EXTRA_DIR, EXPORT_INFO_FILE)
  try:
    return files.read_json(path)
  except (OSError, ValueError):
    return {}


def find_fingerprint(export_root: str, fingerprint: str) -> Optional[str]:
  """The newest complete version recorded with `fingerprint`, or None."""
  for version in reversed(
    workdir_lib.export_versions(export_root, complete_only=True)
  ):
    path = files.join(export_root, str(version))
    if read_export_info(path).get("fingerprint") == fingerprint:
      return path
  return None


def prune(export_root: str, keep: int) -> None:
  """Deletes all but the newest `keep` complete versions (keep <= 0: none)."""
  if keep <= 0:
    return
  versions = workdir_lib.export_versions(export_root, complete_only=True)
  for version in versions[:-keep]:
    files.rmtree(files.join(export_root, str(version)), ignore_errors=True)
    logging.info("Removed export version %d (--keep_exports=%d)", version, keep)
