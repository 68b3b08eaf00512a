"""Draws captions with an exported generator into one PNG.

  python -m sdn_tf.sample --model_dir=runs/shapes/export \
      --text="a red circle at the top left" --text="a blue square" \
      --num_samples=4 --seed=0 --out=grid.png

`--model_dir` is a SavedModel version dir (`.../export/3`) or the export
root (`.../export`, whose highest version is used). Each caption becomes a
row of the grid: its text, then the images of seeds seed, seed + 1, ...,
seed + num_samples - 1 from the model's `generate` signature (a model
trained without noise draws the same image for every seed).
"""

from typing import List
from typing import Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np

from sdn_tf import cli
from sdn_tf.serving import loading
from sdn_tf.utils import files
from sdn_tf.utils import image_grid
from sdn_tf.utils.errors import UsageError

_MODEL_DIR = flags.DEFINE_string(
  "model_dir",
  None,
  "Exported SavedModel: a version dir, or the export "
  "root (its highest version is used).",
)
_TEXT = flags.DEFINE_multi_string(
  "text", None, "A caption to draw; repeat the flag for several rows."
)
_NUM_SAMPLES = flags.DEFINE_integer(
  "num_samples", 4, "Images per caption (seeds seed, seed + 1, ...)."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the first image of a row.")
_OUT = flags.DEFINE_string("out", "samples.png", "PNG file to write.")


def sample_grid(
  model_dir: str, captions: Sequence[str], num_samples: int = 4, seed: int = 0
) -> np.ndarray:
  """The captioned grid, uint8 [height, width, 3]; see the module doc."""
  if not captions:
    raise UsageError("give at least one caption", flag="text")
  if num_samples < 1:
    raise UsageError(f"must be >= 1, got {num_samples}", flag="num_samples")
  path = loading.resolve_model_dir(model_dir)
  logging.info(
    "Drawing %d caption(s) x %d sample(s) with %s",
    len(captions),
    num_samples,
    path,
  )
  images = loading.generate(path, captions, num_samples, seed)
  header = [f"seed {seed + j}" for j in range(num_samples)]
  shown = [loading.to_bytes(c).decode("utf-8", "replace") for c in captions]
  return image_grid.captioned_rows(list(images), shown, header=header)


def write_samples(
  model_dir: str,
  captions: Sequence[str],
  out: str,
  num_samples: int = 4,
  seed: int = 0,
) -> str:
  """Writes the grid of `captions` to the PNG file `out`; returns `out`."""
  if not out:
    raise UsageError("required", flag="out")
  grid = sample_grid(model_dir, captions, num_samples, seed)
  folder = files.split(out)[0]
  if folder:
    files.makedirs(folder)
  files.write_atomically(out, image_grid.to_png(grid))
  logging.info("Wrote %s (%d x %d)", out, grid.shape[1], grid.shape[0])
  return out


def main(argv: List[str]):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  out = cli.run_reporting_user_errors(
    write_samples,
    _MODEL_DIR.value,
    _TEXT.value or [],
    _OUT.value,
    _NUM_SAMPLES.value,
    _SEED.value,
  )
  print(out)


if __name__ == "__main__":
  app.run(main)
