"""TensorBoard output of a training run (written by the chief only).

Scalars, per stage: every loss term per mirror point (`stage1/points/...`),
the totals, learning rate, steps/s and images/s. Images: a grid of the
generator's drawings for a fixed set of test captions and fixed noise, next
to the real images, so progress is comparable across steps; the captions
also go in as text.
"""

import collections
from typing import Dict
from typing import Mapping

import numpy as np
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import image_grid

# Noise samples drawn per caption in the grids (when the student takes noise).
GRID_SAMPLES = 3


def make_writer(workdir: str, chief: bool):
  if not chief:
    return tf.summary.create_noop_writer()
  return tf.summary.create_file_writer(workdir_lib.summary_dir(workdir))


class MeanWindow:
  """Means of logged values since the last `pop`."""

  def __init__(self):
    self._sums = collections.defaultdict(float)
    self._count = 0

  def add(self, values: Mapping[str, float]) -> None:
    for key, value in values.items():
      self._sums[key] += value
    self._count += 1

  def pop(self) -> Dict[str, float]:
    means = {k: v / max(self._count, 1) for k, v in self._sums.items()}
    self._sums.clear()
    self._count = 0
    return means


def write_scalars(
  writer,
  stage_name: str,
  means: Mapping[str, float],
  learning_rate: float,
  steps_per_sec: float,
  batch_size: int,
  step: int,
) -> None:
  """Loss terms (`stageN/points/<point>`), totals, learning rate, speed."""
  with writer.as_default(step=step):
    for key, value in means.items():
      if "/" in key and not key.endswith("/total"):
        term_stage, point = key.split("/", 1)
        tf.summary.scalar(f"{term_stage}/points/{point}", value)
      else:
        tf.summary.scalar(f"{stage_name}/{key.replace('/', '_')}", value)
    tf.summary.scalar(f"{stage_name}/learning_rate", learning_rate)
    tf.summary.scalar(f"{stage_name}/steps_per_sec", steps_per_sec)
    tf.summary.scalar(
      f"{stage_name}/images_per_sec", steps_per_sec * batch_size
    )


def write_config(writer, config: Config) -> None:
  """The resolved flags, as a markdown code block."""
  with writer.as_default(step=0):
    tf.summary.text("config", "```\n" + config.to_json() + "\n```")


def evenly_spaced_batch(
  config: Config, data_dir: str, split: str, count: int
) -> Dict[str, np.ndarray]:
  """`count` examples evenly spaced over `split`, in order. The records are
  sorted by class, so the spacing spans the classes (and, within them,
  sizes, positions and backgrounds)."""
  stride = max(input_pipeline.count_examples(data_dir, split) // count, 1)
  dataset = (
    input_pipeline.make_dataset(
      data_dir,
      split,
      global_batch_size=1,
      image_size=config.image_size,
      training=False,
      deterministic=True,
      seed=config.seed,
      drop_remainder=False,
    )
    .unbatch()
    .enumerate()
    .filter(lambda index, _: index % stride == 0)
    .map(lambda _, example: example)
    .batch(count)
  )
  return {k: v.numpy() for k, v in next(iter(dataset)).items()}


def fixed_eval_batch(config: Config, data_dir: str) -> Dict[str, np.ndarray]:
  """Test examples for the image grids, one caption each, plus fixed
  noise."""
  batch = evenly_spaced_batch(
    config, data_dir, "test", config.num_eval_captions
  )
  samples = GRID_SAMPLES if config.noise_dim else 1
  rng = np.random.default_rng(config.seed)
  batch["noise"] = rng.standard_normal(
    (samples, config.num_eval_captions, max(config.noise_dim, 1))
  ).astype(np.float32)
  return batch


def draw_eval_grid(
  generator, batch: Mapping[str, np.ndarray], config: Config
) -> np.ndarray:
  """uint8 grid: per caption, its text, the real image, the drawings."""
  inputs = batch[generator.input_key]
  drawings = []
  for noise in batch["noise"]:
    outputs = generator(
      inputs, noise if config.noise_dim else None, training=False
    )
    drawings.append(
      teacher_lib.to_uint8_rgb(outputs["image"], config.input_scaling).numpy()
    )
  real = batch["image"].astype(np.uint8)
  rows = [
    np.stack([real[i]] + [d[i] for d in drawings]) for i in range(len(real))
  ]
  captions = [c.decode("utf-8", "replace") for c in batch["caption"]]
  header = ["real"] + [f"z{j}" for j in range(len(drawings))]
  return image_grid.captioned_rows(rows, captions, header=header)


def write_image_grid(
  writer,
  stage_name: str,
  generator,
  batch: Mapping[str, np.ndarray],
  config: Config,
  step: int,
) -> None:
  grid = draw_eval_grid(generator, batch, config)
  with writer.as_default(step=step):
    tf.summary.image(f"{stage_name}/samples", grid[None], max_outputs=1)
    captions = [c.decode("utf-8", "replace") for c in batch["caption"]]
    tf.summary.text(
      f"{stage_name}/captions",
      "\n".join(f"{i}. {c}" for i, c in enumerate(captions, 1)),
    )
