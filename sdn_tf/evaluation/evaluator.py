"""The evaluator network: a small CNN that reads a shapes image's attributes.

Separate from the teacher on purpose (a generator distilled from the
teacher could learn to please it without drawing the object). Trained only
on real training images, with one head per attribute the records carry
(shape, colour, size, position, background); its penultimate layer is the
feature space of the shapes FID and of the diversity measure.

It is cached under `<data_dir>/evaluator/<key>/`, the key a hash of the
prepared data's identity and the training settings, so it is trained once
per data set and is dropped with the data when the data is prepared again.
Its own accuracy on real test images is in its report; a metric computed
with an evaluator below `TRUST_THRESHOLD` on any attribute is flagged as
not trusted.
"""

import dataclasses
import hashlib
import json
import time
from typing import Callable
from typing import Dict

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from sdn_tf import evaluation
from sdn_tf.data import input_pipeline
from sdn_tf.utils import files
from sdn_tf.utils import progress

TRUST_THRESHOLD = 0.98
FEATURE_DIM = 256
WEIGHTS_NAME = "evaluator.weights.h5"
REPORT_NAME = "evaluator.json"
VERSION = 1  # bump when the architecture or the recipe changes


@dataclasses.dataclass(frozen=True)
class EvaluatorSettings:
  """What shapes a trained evaluator: part of its cache key."""

  image_size: int
  steps: int = evaluation.EVALUATOR_STEPS
  batch_size: int = 64
  learning_rate: float = 1e-3
  seed: int = 0


def build_evaluator(image_size: int, heads: Dict[str, int]) -> keras.Model:
  """Strided convs, then a dense feature layer and one logit layer per head.

  Flattened rather than globally pooled: position is an attribute. Always
  float32, whatever policy the caller (a bfloat16 training run) has set:
  one cached evaluator must score every run the same way.
  """
  policy = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy("float32")
  try:
    return _build_evaluator(image_size, heads)
  finally:
    keras.mixed_precision.set_global_policy(policy)


def _build_evaluator(image_size: int, heads: Dict[str, int]) -> keras.Model:
  inputs = keras.Input((image_size, image_size, 3), name="image")
  x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
  for i, filters in enumerate((32, 64, 96, 128)):
    x = keras.layers.Conv2D(
      filters, 3, padding="same", activation="relu", name=f"conv{i}a"
    )(x)
    x = keras.layers.Conv2D(
      filters,
      3,
      strides=2,
      padding="same",
      activation="relu",
      name=f"conv{i}b",
    )(x)
  x = keras.layers.Flatten()(x)
  features = keras.layers.Dense(
    FEATURE_DIM, activation="relu", name="features"
  )(x)
  logits = {
    name: keras.layers.Dense(size, name=f"{name}_logits")(features)
    for name, size in heads.items()
  }
  return keras.Model(inputs, {"features": features, **logits}, name="evaluator")


class Evaluator:
  """A trained evaluator: attribute predictions and features of images."""

  def __init__(self, model: keras.Model, attributes: Dict[str, list], report):
    self.model = model
    self.attributes = attributes  # {attribute: [value names]}
    self.report = report
    self._call = tf.function(
      lambda x: model(x, training=False), reduce_retracing=True
    )

  @property
  def trusted(self) -> bool:
    return all(
      a >= TRUST_THRESHOLD for a in self.report["test_accuracy"].values()
    )

  def run(
    self, images: np.ndarray, batch_size: int = 256
  ) -> Dict[str, np.ndarray]:
    """{"features": [N, F], attribute: predicted value names [N]} of uint8
    images [N, R, R, 3]."""
    outputs = {k: [] for k in ["features", *self.attributes]}
    for start in range(0, len(images), batch_size):
      batch = tf.constant(images[start : start + batch_size], tf.float32)
      result = self._call(batch)
      outputs["features"].append(result["features"].numpy())
      for name, values in self.attributes.items():
        index = np.argmax(result[name].numpy(), -1)
        outputs[name].append(np.asarray(values, dtype=object)[index])
    return {
      k: np.concatenate(v) if v else np.zeros([0]) for k, v in outputs.items()
    }


def cache_dir(data_dir: str, settings: EvaluatorSettings) -> str:
  metadata = input_pipeline.read_metadata(data_dir)
  identity = {
    "version": VERSION,
    "settings": dataclasses.asdict(settings),
    "data": [
      metadata.get(k) for k in ("dataset", "created_utc", "num_examples")
    ],
  }
  key = hashlib.sha256(
    json.dumps(identity, sort_keys=True).encode()
  ).hexdigest()
  return files.join(data_dir, "evaluator", key[:16])


def _dataset(data_dir: str, split: str, settings, training: bool):
  return input_pipeline.make_dataset(
    data_dir,
    split,
    global_batch_size=settings.batch_size if training else 256,
    image_size=settings.image_size,
    training=training,
    deterministic=not training,
    seed=settings.seed,
    drop_remainder=training,
    cache=training,
  )


def accuracy_on(evaluator: Evaluator, data_dir: str, split: str, settings):
  """Per-attribute accuracy on every real image of `split`."""
  hits = {name: [] for name in evaluator.attributes}
  for batch in _dataset(data_dir, split, settings, training=False):
    predicted = evaluator.run(batch["image"].numpy().astype(np.uint8))
    truth = batch["attributes"].numpy()
    for i, (name, values) in enumerate(evaluator.attributes.items()):
      hits[name].append(
        predicted[name] == np.asarray(values, object)[truth[:, i]]
      )
  return {k: float(np.concatenate(v).mean()) for k, v in hits.items()}


def load_or_train(
  data_dir: str,
  settings: EvaluatorSettings,
  log: Callable[[str], None] = logging.info,
) -> Evaluator:
  """The cached evaluator for these records and settings, trained if none.

  Raises:
    ValueError: the records carry no attributes (not the built-in shapes).
  """
  metadata = input_pipeline.read_metadata(data_dir)
  attributes = metadata.get("attributes") or {}
  if not attributes:
    raise ValueError(
      f"{data_dir}: the records carry no attributes, so there is nothing "
      "for an evaluator network to learn (prepare the shapes data again?)"
    )
  heads = {name: len(values) for name, values in attributes.items()}
  folder = cache_dir(data_dir, settings)
  weights_path = files.join(folder, WEIGHTS_NAME)
  report_path = files.join(folder, REPORT_NAME)
  model = build_evaluator(settings.image_size, heads)
  if files.exists(weights_path) and files.exists(report_path):
    model.load_weights(weights_path)
    report = files.read_json(report_path)
    log(f"Reusing the evaluator network in {folder}")
    return Evaluator(model, attributes, report)

  start = time.time()
  keras.utils.set_random_seed(settings.seed)
  model = build_evaluator(settings.image_size, heads)
  _train(model, heads, data_dir, settings, log)
  evaluator = Evaluator(model, attributes, {})
  evaluator.report = {
    "settings": dataclasses.asdict(settings),
    "train_seconds": round(time.time() - start, 1),
    "test_accuracy": accuracy_on(evaluator, data_dir, "test", settings),
  }
  files.makedirs(folder)
  partial = weights_path.replace(".weights.h5", ".partial.weights.h5")
  model.save_weights(partial)  # Keras writes URLs through tf.io.gfile
  files.write_atomically(report_path, json.dumps(evaluator.report, indent=2))
  files.replace(partial, weights_path)
  log(
    "Evaluator network trained in %s; its accuracy on real test images: %s"
    % (
      progress.format_duration(evaluator.report["train_seconds"]),
      ", ".join(
        f"{k} {v:.3f}" for k, v in evaluator.report["test_accuracy"].items()
      ),
    )
  )
  return evaluator


def _train(model, heads, data_dir, settings, log) -> None:
  schedule = keras.optimizers.schedules.CosineDecay(
    settings.learning_rate, settings.steps, alpha=0.05
  )
  optimizer = keras.optimizers.Adam(schedule)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  names = list(heads)

  @tf.function
  def step(images, attributes):
    with tf.GradientTape() as tape:
      outputs = model(images, training=True)
      loss = tf.add_n(
        [loss_fn(attributes[:, i], outputs[n]) for i, n in enumerate(names)]
      )
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  meter = progress.RateMeter()
  batches = iter(_dataset(data_dir, "train", settings, training=True))
  for i in range(1, settings.steps + 1):
    batch = next(batches)
    loss = step(batch["image"], batch["attributes"])
    if i % 250 == 0 or i == settings.steps:
      log(
        progress.progress_line(
          "evaluator network",
          i,
          settings.steps,
          {"loss": float(loss)},
          meter.tick(i),
          settings.batch_size,
          meter.eta(i, settings.steps),
        )
      )
