"""Writes the captioned shapes to disk in CUB's layout, in parallel.

The index files (`images.txt`, `classes.txt`, ...), one PNG and one ten-line
caption file per image, and `attributes.jsonl`. `shapes_info.json` is written
first and last: it marks a directory as a shapes data set, so that a rerun
may overwrite it, and records how it was made.
"""

import concurrent.futures
import dataclasses
import io
import json
import multiprocessing
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
import zlib

import numpy as np
from PIL import Image

from sdn_tf.data.shapes.examples import ShapeExample
from sdn_tf.data.shapes.examples import attributes_record
from sdn_tf.data.shapes.examples import generate_example
from sdn_tf.data.shapes.spec import CLASSES
from sdn_tf.data.shapes.spec import DEFAULT_IMAGE_SIZE
from sdn_tf.data.shapes.spec import DEFAULT_NUM_TEST
from sdn_tf.data.shapes.spec import DEFAULT_NUM_TRAIN
from sdn_tf.data.shapes.spec import DEFAULT_SEED
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

# Written first and last: marks a directory as a shapes data set so that a
# rerun may overwrite it, and records how it was made.
INFO_FILE = "shapes_info.json"
_INDEX_FILES = (
  "images.txt",
  "image_class_labels.txt",
  "train_test_split.txt",
  "classes.txt",
  "attributes.jsonl",
)
_TREES = ("images", "text_c10")

# The "generator" that `shapes_info.json` names. Fixed, so that data sets
# written before the generator became a package are still recognised.
GENERATOR_ID = "sdn_tf.data.shapes"

# ----------------------------------------------------------------------------
# Arguments and the output directory.
# ----------------------------------------------------------------------------


class ShapesArgumentError(UsageError):
  """A bad argument to write_dataset; `arg` names it (the CLI flag name)."""

  def __init__(self, arg: str, message: str):
    super().__init__(message, flag=arg)
    self.arg = arg
    self.message = message


def validate_args(
  num_train: int, num_test: int, image_size: int, seed: int
) -> None:
  """Raises ShapesArgumentError naming the first bad argument."""
  num_classes = len(CLASSES)
  if num_train < 0:
    raise ShapesArgumentError("num_train", f"must be >= 0, got {num_train}")
  if num_test < 0:
    raise ShapesArgumentError("num_test", f"must be >= 0, got {num_test}")
  if 0 < num_test < num_classes:
    raise ShapesArgumentError(
      "num_test",
      f"must be 0 or >= {num_classes} so that the test split "
      f"holds every class, got {num_test}",
    )
  if num_train + num_test == 0:
    raise ShapesArgumentError("num_train", "num_train + num_test must be > 0")
  if image_size < 32 or image_size % 32:
    raise ShapesArgumentError(
      "image_size", f"must be a multiple of 32 and >= 32, got {image_size}"
    )
  if seed < 0:
    raise ShapesArgumentError("seed", f"must be >= 0, got {seed}")


def dataset_info(out_dir: str) -> Optional[dict]:
  """`shapes_info.json` of the shapes data set in `out_dir` (how it was
  made, and "complete": false while it is being written), None if none."""
  try:
    info = files.read_json(files.join(out_dir, INFO_FILE))
  except (OSError, ValueError):
    return None
  if not isinstance(info, dict) or info.get("generator") != GENERATOR_ID:
    return None
  return info


def is_shapes_dataset(out_dir: str) -> bool:
  """Whether `out_dir` holds a (possibly partial) shapes data set."""
  return dataset_info(out_dir) is not None


def check_out_dir(out_dir: str) -> None:
  """Raises ShapesArgumentError unless `out_dir` may be written.

  Allowed: a missing or empty directory, or a previous shapes data set
  (which write_dataset replaces).
  """
  if not out_dir:
    raise ShapesArgumentError("out_dir", "must be given")
  if not files.exists(out_dir):
    return
  if not files.isdir(out_dir):
    raise ShapesArgumentError("out_dir", f"{out_dir} is not a directory")
  if files.listdir(out_dir) and not is_shapes_dataset(out_dir):
    raise ShapesArgumentError(
      "out_dir",
      f"{out_dir} is not empty and is not a shapes data set "
      f"(no {INFO_FILE}); refusing to write into it",
    )


def _clear_previous(out_dir: str) -> None:
  # Only what a previous run wrote, so a smaller rerun leaves no stale files.
  for tree in _TREES:
    files.rmtree(files.join(out_dir, tree), ignore_errors=True)
  for name in _INDEX_FILES + (INFO_FILE,):
    files.remove(files.join(out_dir, name))


# ----------------------------------------------------------------------------
# Writing the CUB layout.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DatasetSummary:
  """What write_dataset wrote."""

  out_dir: str
  num_train: int
  num_test: int
  image_size: int
  seed: int
  num_classes_train: int
  num_classes_test: int


def _text(lines: Sequence[str]) -> bytes:
  return "".join(line + "\n" for line in lines).encode("ascii")


def _write_text(path: str, lines: Sequence[str]) -> None:
  files.write(path, _text(lines))


def _write_info(out_dir: str, info: Dict, complete: bool) -> None:
  # Atomically: a half-written marker would make the directory look foreign.
  info = dict(info, complete=complete)
  files.write_atomically(
    files.join(out_dir, INFO_FILE), _text([json.dumps(info, sort_keys=True)])
  )


def _write_example_files(out_dir: str, example: ShapeExample) -> None:
  """Writes the PNG and the ten captions of one example."""
  png = io.BytesIO()
  # Run-length zlib: same size as the default on these noisy images, ~2x
  # faster to encode, and still deterministic.
  Image.fromarray(example.image, "RGB").save(
    png, format="PNG", compress_level=6, compress_type=zlib.Z_RLE
  )
  files.write(
    files.join(out_dir, "images", example.rel_stem + ".png"), png.getvalue()
  )
  txt = files.join(out_dir, "text_c10", example.rel_stem + ".txt")
  _write_text(txt, example.captions)


def _make_class_dirs(out_dir: str) -> None:
  for tree in _TREES:
    for c in CLASSES:
      files.makedirs(files.join(out_dir, tree, c.dir_name))


def _write_index_files(
  out_dir: str, examples: List[ShapeExample], image_size: int
) -> None:
  """Writes the CUB index files and attributes.jsonl, ids in sorted order."""
  _write_text(
    files.join(out_dir, "classes.txt"),
    [f"{c.index} {c.dir_name}" for c in CLASSES],
  )
  images, labels, splits, records = [], [], [], []
  for image_id, ex in enumerate(examples, start=1):
    images.append(f"{image_id} {ex.rel_stem}.png")
    labels.append(f"{image_id} {ex.shape_class.index}")
    splits.append(f"{image_id} {1 if ex.split == 'train' else 0}")
    records.append(json.dumps(attributes_record(ex, image_id, image_size)))
  _write_text(files.join(out_dir, "images.txt"), images)
  _write_text(files.join(out_dir, "image_class_labels.txt"), labels)
  _write_text(files.join(out_dir, "train_test_split.txt"), splits)
  _write_text(files.join(out_dir, "attributes.jsonl"), records)


def _generate_and_write(job: Tuple[str, int, str, int, int]) -> ShapeExample:
  """Generates and writes one example; returns it without its pixels."""
  out_dir, seed, split, index, image_size = job
  example = generate_example(seed, split, index, image_size)
  _write_example_files(out_dir, example)
  # Index files need no pixels; dropping them keeps memory flat and makes
  # the result cheap to send back from a worker process.
  return dataclasses.replace(example, image=np.zeros((0,), np.uint8))


def _generate_all(jobs: List[Tuple], num_workers: int):
  """Yields _generate_and_write's results over `jobs`, in order."""
  if num_workers <= 1:
    yield from map(_generate_and_write, jobs)
    return
  # "spawn": a forked child of a process that loaded TensorFlow can hang.
  # An executor (unlike multiprocessing.Pool) fails rather than hangs when
  # its workers cannot start, e.g. when __main__ cannot be re-imported.
  ctx = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(
    max_workers=num_workers, mp_context=ctx
  ) as pool:
    yield from pool.map(_generate_and_write, jobs, chunksize=64)


def _run_jobs(
  jobs: List[Tuple],
  num_workers: int,
  progress: Optional[Callable[[int, int], None]],
  progress_every: int,
) -> List[ShapeExample]:
  """Runs _generate_and_write over `jobs`, in order, reporting progress."""
  examples = []
  for example in _generate_all(jobs, num_workers):
    examples.append(example)
    done = len(examples)
    if progress and (done % progress_every == 0 or done == len(jobs)):
      progress(done, len(jobs))
  return examples


def write_dataset(
  out_dir: str,
  num_train: int = DEFAULT_NUM_TRAIN,
  num_test: int = DEFAULT_NUM_TEST,
  image_size: int = DEFAULT_IMAGE_SIZE,
  seed: int = DEFAULT_SEED,
  progress: Optional[Callable[[int, int], None]] = None,
  progress_every: int = 500,
  num_workers: int = 1,
) -> DatasetSummary:
  """Writes the shapes data set in the CUB layout under `out_dir`.

  Args:
    out_dir: a missing or empty directory, or a previous shapes data set
      (replaced).
    num_train: training images (never a held-out pair).
    num_test: test images, 0 or >= 32 (every class appears).
    image_size: image side R in pixels, a multiple of 32.
    seed: non-negative seed; the same arguments give the same bytes.
    progress: optional callback(done, total), called every `progress_every`
      images and once at the end.
    progress_every: images between progress calls.
    num_workers: processes that generate images; the output does not
      depend on it. One process writes the default size in well under a
      minute; above 1 workers are spawned, so the caller's __main__ must be
      importable (a script with a main guard).

  Returns:
    A DatasetSummary.

  Raises:
    ShapesArgumentError: a bad argument or an out_dir that may not be used.
  """
  validate_args(num_train, num_test, image_size, seed)
  check_out_dir(out_dir)
  if is_shapes_dataset(out_dir):
    _clear_previous(out_dir)
  files.makedirs(out_dir)
  info = {
    "generator": GENERATOR_ID,
    "num_train": num_train,
    "num_test": num_test,
    "image_size": image_size,
    "seed": seed,
  }
  _write_info(out_dir, info, complete=False)
  _make_class_dirs(out_dir)

  jobs = [
    (out_dir, seed, split, index, image_size)
    for split, count in (("train", num_train), ("test", num_test))
    for index in range(count)
  ]
  if out_dir.startswith("ram://"):
    num_workers = 1  # ram:// lives in this process's memory only
  examples = _run_jobs(jobs, num_workers, progress, progress_every)

  # CUB numbers images in the order of their paths.
  examples.sort(key=lambda ex: ex.rel_stem)
  _write_index_files(out_dir, examples, image_size)
  _write_info(out_dir, info, complete=True)
  return DatasetSummary(
    out_dir=out_dir,
    num_train=num_train,
    num_test=num_test,
    image_size=image_size,
    seed=seed,
    num_classes_train=len(
      {e.shape_class.index for e in examples if e.split == "train"}
    ),
    num_classes_test=len(
      {e.shape_class.index for e in examples if e.split == "test"}
    ),
  )
