"""File operations on paths that may be URLs (gs://, ram://, hdfs://, s3://).

Every path a user gives (data dir, work dir, export dir, weights file) goes
through here, so that a run on a TPU or a cluster reads and writes a bucket
as it would a local folder. Local paths keep what only a local file system
gives: fsync, and renaming a whole directory in one step.

Local paths are served by `os` directly: TensorFlow is not even imported
for them, so that a command line's usage errors come back at once.

Errors come out as Python's OSError family (FileNotFoundError for a missing
path), as with open(), whatever file system raised them.
"""

import contextlib
import json
import os
import shutil
from typing import Iterable
from typing import Iterator
from typing import List
from typing import Tuple
from typing import Union

_LOCAL_SCHEME = "file://"


def _tf():
  # Imported on first use: the serving client and the launcher use these
  # helpers for local paths and start faster without TensorFlow.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf


def _gfile():
  return _tf().io.gfile


def is_local(path: str) -> bool:
  """True for a path on this machine's own file system."""
  return "://" not in path or path.startswith(_LOCAL_SCHEME)


def _local(path: str) -> str:
  return path[len(_LOCAL_SCHEME) :] if path.startswith(_LOCAL_SCHEME) else path


@contextlib.contextmanager
def _as_os_errors(path: str) -> Iterator[None]:
  """tf.errors from tf.io.gfile -> the OSError a caller of open() expects."""
  tf = _tf()
  try:
    yield
  except tf.errors.NotFoundError as e:
    raise FileNotFoundError(f"{path}: {e.message or 'no such file'}") from None
  except tf.errors.PermissionDeniedError as e:
    raise PermissionError(f"{path}: {e.message}") from None
  except tf.errors.AlreadyExistsError as e:
    raise FileExistsError(f"{path}: {e.message}") from None
  except tf.errors.OpError as e:
    raise OSError(f"{path}: {e.message}") from None


def absolute(path: str) -> str:
  """A local path made absolute (with ~ expanded); a URL as it is."""
  if is_local(path):
    return os.path.abspath(os.path.expanduser(_local(path)))
  return path


def join(path: str, *parts: str) -> str:
  if is_local(path):
    return os.path.join(path, *parts)
  return _gfile().join(path, *parts)


def split(path: str) -> Tuple[str, str]:
  """(parent, name) of `path`, for URLs too; a trailing / is ignored."""
  path = path.rstrip("/") or path
  head, _, tail = path.rpartition("/")
  if head.endswith(":/"):  # gs://bucket -> ('gs://', 'bucket')
    head += "/"
  elif not head and path.startswith("/"):  # /data -> ('/', 'data')
    head = "/"
  return head, tail


def exists(path: str) -> bool:
  if is_local(path):
    return os.path.exists(_local(path))
  with _as_os_errors(path):
    return _gfile().exists(path)


def isdir(path: str) -> bool:
  if is_local(path):
    return os.path.isdir(_local(path))
  with _as_os_errors(path):
    return _gfile().isdir(path)


def isfile(path: str) -> bool:
  return exists(path) and not isdir(path)


def listdir(path: str) -> List[str]:
  """The names in directory `path`, sorted (object stores may mark
  directories with a trailing /, which is dropped)."""
  if is_local(path):
    return sorted(os.listdir(_local(path)))
  with _as_os_errors(path):
    names = sorted(name.rstrip("/") for name in _gfile().listdir(path))
  if path.startswith("ram://"):
    # ram:// lists by bare prefix: "assets" shows ".extra" of a sibling
    # "assets.extra". Such names do not exist.
    names = [name for name in names if exists(join(path, name))]
  return names


def walk(path: str) -> Iterator[Tuple[str, List[str], List[str]]]:
  """os.walk for any path: top-down, prune `dirnames` in place to skip."""
  if is_local(path):
    yield from os.walk(_local(path))
    return
  names = listdir(path)
  dirnames = [name for name in names if isdir(join(path, name))]
  filenames = sorted(set(names) - set(dirnames))
  yield path, dirnames, filenames
  for name in dirnames:
    yield from walk(join(path, name))


def makedirs(path: str) -> None:
  if is_local(path):
    os.makedirs(_local(path), exist_ok=True)
    return
  with _as_os_errors(path):
    _gfile().makedirs(path)


def remove(path: str) -> None:
  """Deletes the file `path`; nothing when it is not there."""
  try:
    if is_local(path):
      os.remove(_local(path))
      return
    with _as_os_errors(path):
      _gfile().remove(path)
  except FileNotFoundError:
    pass


def rmtree(path: str, ignore_errors: bool = False) -> None:
  """Deletes the directory `path` and all under it; nothing when absent.
  With `ignore_errors`, as shutil.rmtree's: whatever cannot go stays."""
  try:
    if is_local(path):
      shutil.rmtree(_local(path), ignore_errors=ignore_errors)
      return
    with _as_os_errors(path):
      _gfile().rmtree(path)
  except FileNotFoundError:
    pass
  except OSError:
    if not ignore_errors:
      raise


def read_bytes(path: str) -> bytes:
  if is_local(path):
    with open(_local(path), "rb") as f:
      return f.read()
  with _as_os_errors(path):
    with _gfile().GFile(path, "rb") as f:
      return f.read()


def read_text(path: str, errors: str = "strict") -> str:
  """The file as UTF-8 text; `errors` as for bytes.decode."""
  return read_bytes(path).decode("utf-8", errors)


def read_json(path: str):
  return json.loads(read_bytes(path))


def write(path: str, data: Union[str, bytes]) -> None:
  """Writes `data` (text as UTF-8) to `path`, not atomically and without
  fsync: for the many files of a tree that a file written last vouches for.
  A local path is written without loading TensorFlow, so that worker
  processes writing them start fast."""
  if isinstance(data, str):
    data = data.encode("utf-8")
  if is_local(path):
    with open(_local(path), "wb") as f:
      f.write(data)
    return
  with _as_os_errors(path):
    with _gfile().GFile(path, "wb") as f:
      f.write(data)


def write_atomically(path: str, data: Union[str, bytes]) -> None:
  """Writes `data` to `path` whole or not at all: a crash leaves the old
  file (or none), never part of the new one."""
  if isinstance(data, str):
    data = data.encode("utf-8")
  partial = path + ".partial"
  if is_local(path):
    with open(_local(partial), "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(_local(partial), _local(path))
    return
  # An object store makes an object visible only once it is closed, so the
  # rename is for file systems such as HDFS that show partial files.
  write(partial, data)
  replace(partial, path)


def write_json(path: str, value) -> None:
  """Writes `value` as indented JSON, whole or not at all."""
  write_atomically(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def replace(source: str, target: str) -> None:
  """Renames the file `source` to `target`, replacing it."""
  if is_local(source) and is_local(target):
    os.replace(_local(source), _local(target))
    return
  with _as_os_errors(source):
    _gfile().rename(source, target, overwrite=True)


def move_dir(source: str, target: str, last: Iterable[str] = ()) -> None:
  """Moves directory `source` to `target`, which must not exist.

  Locally a single rename(2): readers see all of it or nothing. Object
  stores and ram:// have no directory rename (ram:// renames the entry
  and leaves the files behind), so the files are copied one by one, the
  names in `last` after all others, then `source` is deleted: a reader
  that waits for a file named in `last` never sees a part of the tree.

  Raises:
    FileExistsError: `target` exists (another writer took it).
  """
  if is_local(source) and is_local(target):
    try:
      os.rename(_local(source), _local(target))
    except OSError as e:
      if os.path.isdir(_local(target)):
        raise FileExistsError(f"{target} exists") from e
      raise
    return
  if exists(target):
    raise FileExistsError(f"{target} exists")
  last = set(last)
  files = []
  for folder, _, names in walk(source):
    relative = folder[len(source.rstrip("/")) :].lstrip("/")
    makedirs(join(target, relative) if relative else target)
    files += [join(relative, n) if relative else n for n in names]
  files.sort(key=lambda name: split(name)[1] in last)
  for name in files:
    with _as_os_errors(name):
      _gfile().copy(join(source, name), join(target, name), overwrite=True)
  rmtree(source)


def sync_tree(path: str) -> None:
  """fsyncs every file under a local `path`, then each directory, so that
  a crash after a rename cannot leave it with missing bytes. Nothing for a
  URL: an object store has persisted an object once it is closed."""
  if not is_local(path):
    return
  path = _local(path)
  for folder, _, names in os.walk(path):
    for name in names:
      with open(os.path.join(folder, name), "rb") as f:
        os.fsync(f.fileno())
  for folder, _, _ in os.walk(path, topdown=False):
    descriptor = os.open(folder, os.O_RDONLY)
    try:
      os.fsync(descriptor)
    finally:
      os.close(descriptor)
