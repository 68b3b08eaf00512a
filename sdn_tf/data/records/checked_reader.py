"""Reads TFRecord shards record by record, so a bad record costs only itself.

tf.data's TFRecordDataset stops at the first record whose checksum fails
(and `ignore_errors` then drops the rest of the shard), so one flipped byte
would either crash a run mid-epoch or silently lose a shard; and a record
whose bytes are intact but whose Example or image cannot be decoded fails
inside the graph. This reader checks each record's framing checksums, that
it parses as a tf.train.Example and that its image decodes, and hands a bad
one to a `BadRecordPolicy`: skip it (logged with shard and record, and
counted) or raise `BadRecordError` naming both. `usable_shards` runs it
once over every shard a pipeline will read, before tf.data does.

After a damaged length field the next record's start is unknown: the reader
searches forward for the next intact record (its framing and data checksums
must both hold), so the rest of the shard is still read.

Record layout (TensorFlow's io/record_writer): uint64 length, uint32 masked
CRC32C of the length, the data, uint32 masked CRC32C of the data.
"""

import io
import os
import struct
import tempfile
import threading
import time
from typing import Dict
from typing import Iterator
from typing import List
from typing import Optional
from typing import Tuple

from absl import logging
import google_crc32c
from PIL import Image
import tensorflow as tf

from sdn_tf.data.records import schema
from sdn_tf.utils.errors import UsageError

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
# How far past a damaged length field to look for the next intact record.
RESYNC_WINDOW_BYTES = 64 * 2**20


class BadRecordError(UsageError):
  """A record that cannot be read, under --strict; names shard and record."""


def masked_crc(data: bytes) -> int:
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class BadRecordPolicy:
  """What to do with a bad record: skip and count it, or fail (strict).

  Thread-safe: tf.data runs the readers of several shards at once.
  """

  def __init__(self, strict: bool = False):
    self.strict = strict
    self._lock = threading.Lock()
    self._skipped = 0

  @property
  def skipped(self) -> int:
    with self._lock:
      return self._skipped

  def bad(self, shard: str, index: int, reason: str) -> None:
    where = f"{shard}: record {index}"
    if self.strict:
      raise BadRecordError(
        f"bad record: {where}: {reason} (without --strict it is skipped)"
      )
    with self._lock:
      self._skipped += 1
    logging.warning("Skipped a bad record, %s: %s", where, reason)


# The policy of training runs in this process (set by the trainer from
# --strict); readers given no policy use it, so its count covers every
# pipeline the run builds.
_process_policy = BadRecordPolicy()


def process_policy() -> BadRecordPolicy:
  return _process_policy


def set_process_policy(policy: BadRecordPolicy) -> None:
  global _process_policy
  _process_policy = policy


def read_shard(
  path: str, policy: Optional[BadRecordPolicy] = None
) -> Iterator[bytes]:
  """Yields the serialized Examples of one shard that can be decoded.

  Raises:
    BadRecordError: a bad record, under a strict policy.
  """
  policy = policy or _process_policy
  with tf.io.gfile.GFile(path, "rb") as f:
    index = 0
    while True:
      start = f.tell()
      header = f.read(_HEADER.size)
      if not header:
        return
      length = _intact_length(header)
      if length is None:
        policy.bad(path, index, f"damaged record header at byte {start}")
        index += 1
        resume = _find_next_record(f, start + 1)
        if resume is None:
          return
        f.seek(resume)
        continue
      body = f.read(length + _FOOTER.size)
      index += 1
      if len(body) < length + _FOOTER.size:
        policy.bad(path, index - 1, f"truncated at byte {start}")
        return
      data = body[:length]
      problem = _content_problem(data, body[length:])
      if problem:
        policy.bad(path, index - 1, problem)
        continue
      yield data


def usable_shards(
  files: List[str], policy: Optional[BadRecordPolicy] = None
) -> List[str]:
  """`files`, each damaged shard replaced by a copy of its good records.

  Every shard is checked once per process (again only when its size or
  modification time changes), so tf.data's fast reader is only ever given
  shards it can read to the end. A repaired copy lives in a temporary
  directory removed at exit; its bad records were reported to `policy` when
  found.

  Raises:
    BadRecordError: a bad record, under a strict policy.
  """
  policy = policy or _process_policy
  if not files:
    return []
  start, skipped_before = time.monotonic(), policy.skipped
  usable, checked_now = zip(*(_usable_shard(path, policy) for path in files))
  if any(checked_now):
    logging.info(
      "Checked %d shard(s) in %.1fs: %d bad record(s) skipped",
      sum(checked_now),
      time.monotonic() - start,
      policy.skipped - skipped_before,
    )
  return list(usable)


def _usable_shard(path: str, policy: BadRecordPolicy) -> Tuple[str, bool]:
  """(the path to read `path` from, whether it was checked just now)."""
  stat = tf.io.gfile.stat(path)
  key = (path, stat.length, stat.mtime_nsec, policy.strict)
  with _checked_lock:
    if key in _checked:
      return _checked[key], False
  skipped_before = policy.skipped
  records = list(read_shard(path, policy))
  usable = path
  if policy.skipped > skipped_before:
    usable = _write_repaired_copy(path, records)
    logging.warning(
      "%s: read from a copy of its %d good records, %s",
      path,
      len(records),
      usable,
    )
  with _checked_lock:
    _checked[key] = usable
  return usable, True


_checked_lock = threading.Lock()
# (path, size, mtime, strict) -> the path to read it from.
_checked: Dict[Tuple, str] = {}
_repaired_dir: Optional[tempfile.TemporaryDirectory] = None


def _write_repaired_copy(path: str, records: List[bytes]) -> str:
  global _repaired_dir
  with _checked_lock:
    if _repaired_dir is None:
      _repaired_dir = tempfile.TemporaryDirectory(prefix="sdn_tf_repaired_")
    directory = tempfile.mkdtemp(dir=_repaired_dir.name)
  copy = os.path.join(directory, os.path.basename(path))
  with tf.io.TFRecordWriter(copy) as writer:
    for serialized in records:
      writer.write(serialized)
  return copy


def _intact_length(header: bytes) -> Optional[int]:
  if len(header) < _HEADER.size:
    return None
  length, crc = _HEADER.unpack(header)
  if masked_crc(header[:8]) != crc:
    return None
  return length


def _content_problem(data: bytes, footer: bytes) -> Optional[str]:
  """Why the record's data cannot be used, or None."""
  if masked_crc(data) != _FOOTER.unpack(footer)[0]:
    return "its data checksum is wrong (corrupt bytes)"
  try:
    example = tf.train.Example.FromString(data)
  except Exception:  # pylint: disable=broad-except
    return "not a tf.train.Example"
  encoded = example.features.feature[schema.IMAGE_ENCODED].bytes_list.value
  if not encoded:
    return "no image"
  try:
    with Image.open(io.BytesIO(encoded[0])) as image:
      # Decoding a JPEG at 1/8 scale still reads all of its data.
      image.draft("RGB", (image.width // 8 or 1, image.height // 8 or 1))
      image.load()
  except Exception as e:  # pylint: disable=broad-except
    return f"its image does not decode ({type(e).__name__}: {e})"
  return None


def _find_next_record(f, start: int) -> Optional[int]:
  """Offset of the first intact record at or after `start`, or None."""
  f.seek(start)
  window = f.read(RESYNC_WINDOW_BYTES)
  for offset in range(len(window) - _HEADER.size + 1):
    length, crc = _HEADER.unpack_from(window, offset)
    end = offset + _HEADER.size + length + _FOOTER.size
    if end > len(window) or masked_crc(window[offset : offset + 8]) != crc:
      continue
    data = window[offset + _HEADER.size : end - _FOOTER.size]
    if masked_crc(data) == _FOOTER.unpack_from(window, end - _FOOTER.size)[0]:
      return start + offset
  return None
