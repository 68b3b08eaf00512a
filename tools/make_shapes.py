"""Writes the built-in captioned shapes data set (docs/SHAPES.md).

Usage, from the repository root:

  python tools/make_shapes.py --out_dir=/tmp/shapes \
      [--num_train=10000 --num_test=1600 --image_size=64 --seed=0]

The output is the CUB-200-2011 layout with ten captions per image, plus
attributes.jsonl. The same flags give the same bytes.
"""

import os
import sys
import time

# Run as `python tools/make_shapes.py`, Python puts tools/ (not the repo
# root) on sys.path, so `import sdn_tf` needs the root added by hand.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from sdn_tf import cli  # pylint: disable=g-import-not-at-top
from sdn_tf.data import shapes  # pylint: disable=g-import-not-at-top
from sdn_tf.utils import progress  # pylint: disable=g-import-not-at-top

_PROG = "make_shapes.py"

_OUT_DIR = flags.DEFINE_string(
  "out_dir",
  None,
  "Directory to write: missing, empty, or a previous "
  "shapes data set (replaced).",
)
_NUM_TRAIN = flags.DEFINE_integer(
  "num_train",
  shapes.DEFAULT_NUM_TRAIN,
  "Training images (never a held-out (shape, colour) pair).",
)
_NUM_TEST = flags.DEFINE_integer(
  "num_test",
  shapes.DEFAULT_NUM_TEST,
  "Test images: 0 or at least 32, so that every class appears.",
)
_IMAGE_SIZE = flags.DEFINE_integer(
  "image_size",
  shapes.DEFAULT_IMAGE_SIZE,
  "Image side in pixels, a multiple of 32.",
)
_SEED = flags.DEFINE_integer(
  "seed", shapes.DEFAULT_SEED, "Non-negative seed; same seed, same bytes."
)
_NUM_WORKERS = flags.DEFINE_integer(
  "num_workers",
  1,
  "Generator processes; helps only on idle cores. The "
  "output does not depend on it.",
)
flags.mark_flag_as_required("out_dir")


class _ProgressPrinter:
  """Prints count, rate and ETA, at most every `interval_s` seconds."""

  def __init__(self, interval_s: float = 2.0):
    self._start = time.monotonic()
    self._last = self._start
    self._interval_s = interval_s

  def __call__(self, done: int, total: int) -> None:
    now = time.monotonic()
    if now - self._last < self._interval_s and done < total:
      return
    self._last = now
    rate = done / max(now - self._start, 1e-9)
    eta = progress.seconds_left(done, total, rate) or 0.0
    print(
      f"{done}/{total} images  {rate:.0f} images/s  "
      f"ETA {progress.format_duration(eta)}",
      flush=True,
    )


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}", _PROG)
  if _NUM_WORKERS.value < 1:
    cli.fail(f"--num_workers: must be >= 1, got {_NUM_WORKERS.value}", _PROG)
  start = time.monotonic()
  try:
    summary = shapes.write_dataset(
      _OUT_DIR.value,
      num_train=_NUM_TRAIN.value,
      num_test=_NUM_TEST.value,
      image_size=_IMAGE_SIZE.value,
      seed=_SEED.value,
      progress=_ProgressPrinter(),
      num_workers=_NUM_WORKERS.value,
    )
  except shapes.ShapesArgumentError as e:  # A UsageError: names its flag.
    cli.fail(str(e), _PROG)
  except OSError as e:
    # Every OSError, missing folders included, is about --out_dir here.
    cli.fail(
      f"--out_dir: cannot write {_OUT_DIR.value}: {e.strerror or e}", _PROG
    )
  elapsed = time.monotonic() - start
  print(
    f"wrote {summary.num_train} train images "
    f"({summary.num_classes_train} classes) and {summary.num_test} test "
    f"images ({summary.num_classes_test} classes), "
    f"{summary.image_size}x{summary.image_size}, seed {summary.seed}, "
    f"in {elapsed:.1f}s to {summary.out_dir}",
    flush=True,
  )


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(_PROG))
