"""Converts a loader's stream of `CaptionedImage`s into a prepared data set.

The output directory (see `records.schema`) holds sharded TFRecords per
split, `vocab.txt` built from the *training* captions only, and
`metadata.json`. Everything is written into a hidden sibling directory
(`.<name>.partial-<pid>`) that is renamed to the output directory only once
complete, so an interrupted run never leaves something that looks like a
finished data set. A URL (gs://) has no directory rename: the files are
copied there with metadata.json, which readers wait for, last.

Bad data is decided here, not in the loaders: an image that cannot be read
or decoded by PIL, a missing or empty caption file, or a repeated example id
is skipped and counted by reason (or, with `strict`, stops the run with a
`BadExampleError` naming the file). Captions that are not UTF-8 are counted
as warnings only. Images are written as the bytes found on disk when they
are JPEG or PNG; other formats (WebP, BMP, GIF, ...) are re-encoded to PNG
so that the input pipeline only ever sees JPEG or PNG.
"""

import dataclasses
import datetime
import logging
import os
import time
from typing import Callable
from typing import Dict
from typing import Iterable
from typing import List
from typing import Optional
from typing import Sequence

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.data.records import images as images_lib
from sdn_tf.data.records import schema
from sdn_tf.data.records import tallies
from sdn_tf.text import vocab as vocab_lib
from sdn_tf.utils import files
from sdn_tf.utils import progress as progress_lib

# 2: a validation split and per-image attributes.
FORMAT_VERSION = 2
DEFAULT_VALIDATION_FRACTION = 0.05
DEFAULT_EXAMPLES_PER_SHARD = 1000
DEFAULT_MAX_SHARD_BYTES = 100 * 2**20
VOCAB_MODE = "word"


logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WriterOptions:
  """How to write a prepared data set.

  Attributes:
    examples_per_shard: start a new shard after this many examples (default
      1000 when `num_shards` is not set either).
    num_shards: instead, a fixed number of shards per split (examples are
      dealt round-robin; a split with fewer examples gets fewer shards).
    max_shard_bytes: also start a new shard once one reaches this size.
    strict: stop at the first example that would be skipped.
    vocab_min_count: words seen fewer times in training captions are left
      out of the vocabulary.
    vocab_max_size: cap on the vocabulary size (reserved tokens included).
    overwrite: replace an existing, non-empty output directory.
    validation_fraction: the share of the training images (chosen by a hash
      of their id) written to the validation split instead.
  """

  examples_per_shard: Optional[int] = None
  num_shards: Optional[int] = None
  max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES
  strict: bool = False
  vocab_min_count: int = 1
  vocab_max_size: Optional[int] = None
  overwrite: bool = False
  validation_fraction: float = DEFAULT_VALIDATION_FRACTION

  def check(self) -> None:
    """Raises DatasetError naming the first invalid option."""
    if self.examples_per_shard is not None and self.num_shards is not None:
      raise common.DatasetError(
        "--num_shards and --examples_per_shard cannot both be set"
      )
    for name in (
      "examples_per_shard",
      "num_shards",
      "max_shard_bytes",
      "vocab_min_count",
      "vocab_max_size",
    ):
      value = getattr(self, name)
      if value is not None and value < 1:
        raise common.DatasetError(f"--{name}={value} must be at least 1")
    if not 0.0 <= self.validation_fraction < 1.0:
      raise common.DatasetError(
        f"--validation_fraction={self.validation_fraction} must be in [0, 1)"
      )


@dataclasses.dataclass(frozen=True)
class Progress:
  """How far a conversion has got, for progress lines."""

  processed: int  # images visited: written + skipped
  written: int
  skipped: int
  total: Optional[int]  # images the loader announced, if known
  elapsed_s: float

  @property
  def rate(self) -> float:
    """Images visited per second."""
    return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

  @property
  def eta_s(self) -> Optional[float]:
    """Seconds left at the current rate, when the total is known."""
    if self.total is None:
      return None
    return progress_lib.seconds_left(self.processed, self.total, self.rate)


@dataclasses.dataclass(frozen=True)
class ConversionSummary:
  """The result of a conversion; `metadata` is what metadata.json holds."""

  out_dir: str
  num_examples: Dict[str, int]
  num_shards: Dict[str, int]
  skipped: Dict[str, int]
  warnings: Dict[str, int]
  vocab_size: int
  elapsed_s: float
  metadata: dict


class _ShardWriter:
  """Writes one split's serialized examples into numbered temporary shards."""

  def __init__(self, directory: str, split: str, options: WriterOptions):
    self._directory = directory
    self._split = split
    self._num_shards = options.num_shards
    self._per_shard = options.examples_per_shard or DEFAULT_EXAMPLES_PER_SHARD
    self._max_bytes = options.max_shard_bytes
    self._writers: List = []
    self._paths: List[str] = []
    self._counts: List[int] = []
    self._bytes: List[int] = []
    self.num_written = 0

  def _open(self) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    path = files.join(
      self._directory, f"{self._split}-{len(self._paths):05d}.partial"
    )
    self._writers.append(tf.io.TFRecordWriter(path))
    self._paths.append(path)
    self._counts.append(0)
    self._bytes.append(0)

  def _target(self) -> int:
    """The shard the next example goes to, opening one if needed."""
    if self._num_shards is not None:
      index = self.num_written % self._num_shards
      if index == len(self._writers):
        self._open()
      return index
    if (
      not self._writers
      or self._counts[-1] >= self._per_shard
      or self._bytes[-1] >= self._max_bytes
    ):
      if self._writers:
        self._writers[-1].close()
      self._open()
    return len(self._writers) - 1

  def write(self, serialized: bytes) -> None:
    index = self._target()
    self._writers[index].write(serialized)
    self._counts[index] += 1
    self._bytes[index] += len(serialized)
    self.num_written += 1

  def finish(self) -> List[str]:
    """Closes the shards and gives them their final names."""
    for writer in self._writers:
      writer.close()
    names = []
    for i, path in enumerate(self._paths):
      name = schema.shard_name(self._split, i, len(self._paths))
      files.replace(path, files.join(self._directory, name))
      names.append(name)
    return names

  def abort(self) -> None:
    for writer in self._writers:
      writer.close()


def _check_record(record: CaptionedImage, num_classes: int) -> None:
  """Loader bugs (not user data) surface here as plain ValueErrors."""
  if record.split not in common.SPLITS:
    raise ValueError(f"record {record.example_id} has split {record.split!r}")
  if not 0 <= record.label < num_classes:
    raise ValueError(
      f"record {record.example_id} has label {record.label} "
      f"outside [0, {num_classes})"
    )


def _check_out_dir(out_dir: str, overwrite: bool) -> None:
  """Raises DatasetError unless the output dir may be (re)placed."""
  out_dir = files.absolute(out_dir)
  if files.exists(out_dir):
    if not files.isdir(out_dir):
      raise common.DatasetError(f"--out_dir={out_dir} is a file")
    if files.listdir(out_dir) and not overwrite:
      raise common.DatasetError(
        f"--out_dir={out_dir} already exists and is not empty (pass "
        f"--overwrite to replace it)"
      )


def _make_tmp_dir(out_dir: str) -> str:
  """Creates the hidden sibling dir the data set is written into."""
  out_dir = files.absolute(out_dir)
  parent, base = files.split(out_dir)
  try:
    files.makedirs(parent)
    tmp_dir = files.join(parent, f".{base}.partial-{os.getpid()}")
    files.rmtree(tmp_dir, ignore_errors=True)
    files.makedirs(tmp_dir)
  except OSError as e:
    raise common.DatasetError(
      f"--out_dir={out_dir} cannot be created: {e.strerror or e}"
    ) from None
  return tmp_dir


def _publish(tmp_dir: str, out_dir: str) -> None:
  """Moves the finished temporary dir into place, replacing any old one.

  Locally two renames. A URL has no directory rename: the old data is
  deleted first (metadata.json, by which readers know it is ready, before
  the rest) and the new files are copied with metadata.json last.
  """
  out_dir = files.absolute(out_dir)
  old_dir = None
  if files.isdir(out_dir):
    if files.is_local(out_dir):
      old_dir = f"{tmp_dir}.old"
      files.move_dir(out_dir, old_dir)
    else:
      files.remove(files.join(out_dir, schema.METADATA_FILE))
      files.rmtree(out_dir)
  files.move_dir(tmp_dir, out_dir, last=[schema.METADATA_FILE])
  if old_dir:
    files.rmtree(old_dir, ignore_errors=True)


def write_dataset(
  items: Iterable[common.Item],
  out_dir: str,
  *,
  dataset_name: str,
  data_dir: str,
  class_names: Sequence[str],
  options: WriterOptions = WriterOptions(),
  total: Optional[int] = None,
  progress: Optional[Callable[[Progress], None]] = None,
  progress_interval_s: float = 1.0,
  split_rule: Optional[str] = None,
  loader_options: Optional[dict] = None,
  attributes: Optional[Dict[str, Sequence[str]]] = None,
  settings: Optional[dict] = None,
) -> ConversionSummary:
  """Writes records and counts issues from `items` into `out_dir`.

  Args:
    items: a loader's stream of `CaptionedImage`s and `DataIssue`s.
    out_dir: the prepared data set's directory (created or replaced).
    dataset_name: recorded in metadata.json.
    data_dir: the source data dir, recorded in metadata.json.
    class_names: class names indexed by label.
    options: sharding, strictness and vocabulary options.
    total: the number of images `items` will visit, for the ETA.
    progress: called with a `Progress` at most every `progress_interval_s`
      seconds and once at the end.
    progress_interval_s: see `progress`.
    split_rule: how the loader chose the splits, for metadata.json.
    loader_options: the loader's options, added to metadata.json's
      "options" beside the writer's.
    attributes: {attribute: values} that the records' attribute indices
      point into, for metadata.json.
    settings: the flags that made this data set, recorded in
      metadata.json so that a later run can tell whether they still hold.

  Returns:
    The summary; `summary.metadata` is the content of metadata.json.

  Raises:
    DatasetError: bad options, an output dir in the way, no usable example,
      or (as BadExampleError) a bad example in strict mode.
  """
  options.check()
  _check_out_dir(out_dir, options.overwrite)
  # Imported here rather than at the top so that option and layout mistakes
  # are reported before TensorFlow's seconds-long import, and before the
  # clock starts so that the first progress rate is not skewed by it.
  import tensorflow  # noqa: F401  # pylint: disable=g-import-not-at-top

  start = time.monotonic()
  tmp_dir = _make_tmp_dir(out_dir)
  writers = {s: _ShardWriter(tmp_dir, s, options) for s in common.SPLITS}
  tally, stats = tallies.IssueTally(options.strict), tallies.Stats()
  done = False
  try:
    last_report = start
    for item in items:
      _write_item(
        item,
        writers,
        tally,
        stats,
        len(class_names),
        options.validation_fraction,
      )
      now = time.monotonic()
      if progress and now - last_report >= progress_interval_s:
        progress(_progress(writers, tally, total, now - start))
        last_report = now
    if progress:
      progress(_progress(writers, tally, total, time.monotonic() - start))
    shard_files = {s: w.finish() for s, w in writers.items()}
    provenance = _Provenance(
      dataset_name,
      data_dir,
      list(class_names),
      options,
      split_rule,
      loader_options or {},
      start,
      {k: list(v) for k, v in (attributes or {}).items()},
      settings or {},
    )
    summary = _finish(
      tmp_dir, out_dir, shard_files, writers, tally, stats, provenance
    )
    done = True
    return summary
  finally:
    if not done:
      for writer in writers.values():
        writer.abort()
      files.rmtree(tmp_dir, ignore_errors=True)


def _write_item(
  item: common.Item,
  writers: Dict[str, _ShardWriter],
  tally: tallies.IssueTally,
  stats: tallies.Stats,
  num_classes: int,
  validation_fraction: float,
) -> None:
  """Writes one record, or reports one issue."""
  if isinstance(item, common.DataIssue):
    tally.report(item)
    return
  _check_record(item, num_classes)
  if item.example_id in stats.ids:
    tally.report(
      common.DataIssue(
        common.DUPLICATE_ID,
        item.image_path or item.example_id,
        f"id {item.example_id!r} seen before",
      )
    )
    return
  try:
    image = images_lib.read_image(item)
  except images_lib.BadImage as e:
    tally.report(
      common.DataIssue(e.reason, item.image_path or item.example_id, e.detail)
    )
    return
  item = _with_validation_split(item, validation_fraction)
  stats.ids.add(item.example_id)
  stats.add(item, image)
  example = schema.encode_example(item, image.data)
  writers[item.split].write(example.SerializeToString())


def _with_validation_split(
  record: CaptionedImage, fraction: float
) -> CaptionedImage:
  """Moves a hashed `fraction` of the training images to validation.

  Salted, so that a loader that hashes ids into its test split (folder)
  does not pick the same images again.
  """
  if record.split != common.TRAIN:
    return record
  if common.hash_fraction("validation:" + record.example_id) >= fraction:
    # Paraphrases are evaluation captions: none in training records.
    return dataclasses.replace(record, paraphrases=())
  return dataclasses.replace(record, split=common.VALIDATION)


def _progress(writers, tally, total, elapsed_s) -> Progress:
  written = sum(w.num_written for w in writers.values())
  skipped = sum(tally.skipped.values())
  return Progress(
    processed=written + skipped,
    written=written,
    skipped=skipped,
    total=total,
    elapsed_s=elapsed_s,
  )


@dataclasses.dataclass(frozen=True)
class _Provenance:
  """Where a conversion's data came from and how it was run."""

  dataset: str
  data_dir: str
  class_names: List[str]
  options: WriterOptions
  split_rule: Optional[str]
  loader_options: dict
  start: float  # time.monotonic() at the start
  attributes: Dict[str, List[str]]
  settings: dict


def _finish(
  tmp_dir: str,
  out_dir: str,
  shard_files: Dict[str, List[str]],
  writers: Dict[str, _ShardWriter],
  tally: tallies.IssueTally,
  stats: tallies.Stats,
  info: _Provenance,
) -> ConversionSummary:
  """Writes vocab.txt and metadata.json, then publishes the directory."""
  num_examples = {s: w.num_written for s, w in writers.items()}
  if not sum(num_examples.values()):
    skipped = ", ".join(f"{n} {r}" for r, n in sorted(tally.skipped.items()))
    raise common.DatasetError(
      f"no usable examples in --data_dir={info.data_dir}"
      + (f" (skipped: {skipped})" if skipped else "")
    )
  if not num_examples[common.TRAIN]:
    logger.warning(
      "no training examples: vocab.txt holds only %s", vocab_lib.RESERVED_TOKENS
    )
  tokens = vocab_lib.build_vocabulary(
    stats.train_captions,
    min_count=info.options.vocab_min_count,
    max_size=info.options.vocab_max_size,
    mode=VOCAB_MODE,
  )
  vocab_lib.write_vocabulary(files.join(tmp_dir, schema.VOCAB_FILE), tokens)
  metadata = _metadata(
    num_examples, shard_files, tally, stats, info, len(tokens)
  )
  files.write_json(files.join(tmp_dir, schema.METADATA_FILE), metadata)
  _publish(tmp_dir, out_dir)
  return ConversionSummary(
    out_dir=files.absolute(out_dir),
    num_examples=num_examples,
    num_shards={s: len(f) for s, f in shard_files.items()},
    skipped=dict(tally.skipped),
    warnings=dict(tally.warnings),
    vocab_size=len(tokens),
    elapsed_s=metadata["elapsed_s"],
    metadata=metadata,
  )


def _metadata(
  num_examples: Dict[str, int],
  shard_files: Dict[str, List[str]],
  tally: tallies.IssueTally,
  stats: tallies.Stats,
  info: _Provenance,
  vocab_size: int,
) -> dict:
  """The content of metadata.json."""
  counts = sorted(stats.caption_counts)
  options = dataclasses.asdict(info.options)
  options.update(info.loader_options)
  return {
    "format_version": FORMAT_VERSION,
    "dataset": info.dataset,
    "data_dir": info.data_dir,
    "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec="seconds"
    ),
    "elapsed_s": round(time.monotonic() - info.start, 3),
    "splits": list(common.SPLITS),
    "num_examples": num_examples,
    "num_shards": {s: len(f) for s, f in shard_files.items()},
    "shard_files": shard_files,
    "num_classes": len(info.class_names),
    "class_names": info.class_names,
    "labels_per_split": {s: sorted(stats.labels[s]) for s in common.SPLITS},
    "split_rule": info.split_rule,
    "validation_rule": (
      f"{info.options.validation_fraction:g} of the training images, "
      "by a hash of their id"
    ),
    "attributes": info.attributes,
    "captions_per_image": counts[0] if len(counts) == 1 else None,
    "min_captions_per_image": counts[0],
    "max_captions_per_image": counts[-1],
    "embedding_dim": stats.embedding_dim,
    "num_with_box": stats.with_boxes,
    "image_formats": dict(stats.formats),
    "num_reencoded_to_png": stats.reencoded,
    "vocab_size": vocab_size,
    "vocab_mode": VOCAB_MODE,
    "num_skipped": sum(tally.skipped.values()),
    "skipped": dict(sorted(tally.skipped.items())),
    "warnings": dict(sorted(tally.warnings.items())),
    "options": options,
    "settings": info.settings,
  }


def convert(
  source: common.DatasetSource,
  out_dir: str,
  options: WriterOptions = WriterOptions(),
  progress: Optional[Callable[[Progress], None]] = None,
  settings: Optional[dict] = None,
) -> ConversionSummary:
  """Writes a loader's data set as a prepared data set in `out_dir`.

  Args:
    source: from a loader or `layouts.load_dataset`.
    out_dir: the output directory.
    options: see `WriterOptions`.
    progress: see `write_dataset`.
    settings: see `write_dataset`.

  Returns:
    The summary.
  """
  return write_dataset(
    source.items(),
    out_dir,
    dataset_name=source.name,
    data_dir=source.data_dir,
    class_names=source.class_names,
    options=options,
    total=source.num_images,
    progress=progress,
    split_rule=source.split_rule,
    loader_options=source.options,
    attributes=source.attributes,
    settings=settings,
  )
