"""Scores an exported generator on the built-in shapes' test captions.

  python -m sdn_tf.judge_shapes --model_dir=runs/shapes/export \
      --raw_data_dir=data/shapes/raw --num_images=320

Takes one caption from each of the first `--num_images` test images (a
reproducible choice), draws it with the model's `serving_default` signature
and measures the drawing (`sdn_tf.evaluation.shapes_judge`): per attribute,
the share of captions naming it whose image shows it. The real test images,
judged against the same captions, are printed first as the ceiling. The
held-out (shape, colour) pairs are reported apart.
"""

import io
from typing import Dict
from typing import List
from typing import Sequence

from absl import app
from absl import flags
from absl import logging
import numpy as np

from sdn_tf import cli
from sdn_tf.data import shapes
from sdn_tf.data import shapes_loader
from sdn_tf.evaluation import shapes_judge
from sdn_tf.serving import loading
from sdn_tf.utils.errors import UsageError

_MODEL_DIR = flags.DEFINE_string(
  "model_dir",
  None,
  "Exported SavedModel: a version dir, or the export "
  "root (its highest version is used).",
)
_RAW_DATA_DIR = flags.DEFINE_string(
  "raw_data_dir", "data/shapes/raw", "The generated shapes data set."
)
_NUM_IMAGES = flags.DEFINE_integer(
  "num_images", 320, "Test images to judge, one caption each."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the caption choice.")
_BATCH = 64


def _test_records(raw_data_dir: str, num_images: int):
  try:
    source = shapes_loader.load_shapes(raw_data_dir)
  except ValueError as e:
    raise UsageError(str(e), flag="raw_data_dir") from e
  records = [r for r in source.records() if r.split == "test"]
  if not records:
    raise UsageError(f"no test images in {raw_data_dir}", flag="raw_data_dir")
  return records[:num_images]


def _read_image(record) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top

  with Image.open(io.BytesIO(record.read_image_bytes())) as image:
    return np.asarray(image.convert("RGB"))


def _draw(model_dir: str, captions: Sequence[str]) -> List[np.ndarray]:
  # Seed 0 of `generate` is the fixed noise of `serving_default`.
  signature = loading.load_generate_signature(model_dir)
  images = []
  for start in range(0, len(captions), _BATCH):
    batch = loading.draw(signature, captions[start : start + _BATCH], 1, 0)
    images.extend(batch[:, 0])
  return images


_HELD_OUT_CLASS_DIRS = frozenset(
  c.dir_name for c in shapes.CLASSES if c.held_out
)


def _held_out(record) -> bool:
  return record.class_name in _HELD_OUT_CLASS_DIRS


def judge_export(
  model_dir: str, raw_data_dir: str, num_images: int = 320, seed: int = 0
) -> Dict[str, shapes_judge.Report]:
  """Reports for "real", "generated", "generated_seen", "generated_held_out"."""
  if num_images < 1:
    raise UsageError(f"must be >= 1, got {num_images}", flag="num_images")
  path = loading.resolve_model_dir(model_dir)
  records = _test_records(raw_data_dir, num_images)
  captions = shapes_judge.caption_sample([r.captions for r in records], seed)
  logging.info("Judging %d captions drawn by %s", len(captions), path)
  drawn = _draw(path, captions)
  held_out = [_held_out(r) for r in records]

  def subset(keep):
    return shapes_judge.judge(
      [c for c, k in zip(captions, keep) if k],
      [d for d, k in zip(drawn, keep) if k],
    )

  return {
    "real": shapes_judge.judge(captions, [_read_image(r) for r in records]),
    "generated": shapes_judge.judge(captions, drawn),
    "generated_seen": subset([not h for h in held_out]),
    "generated_held_out": subset(held_out),
  }


def main(argv: List[str]):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  reports = cli.run_reporting_user_errors(
    judge_export,
    _MODEL_DIR.value,
    _RAW_DATA_DIR.value,
    _NUM_IMAGES.value,
    _SEED.value,
  )
  for name, report in reports.items():
    print(f"{name}: {report.summary()}")


if __name__ == "__main__":
  app.run(main)
