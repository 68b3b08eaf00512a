"""Alignment pre-training of the text encoder against the frozen teacher.

docs/METHOD.md ("Text encoder") allows an alignment pre-training of E
against the teacher's features of the paired image. Trained only through
the student's sixteen layers, a fresh encoder is what holds Stage I back: it
gives the student an almost constant input (docs/METHOD_NOTES.md has the
experiments). So before Stage I the encoder learns
to predict, from a caption, the teacher's activations at one mirror point
(`--text_pretrain_point`) of the paired image: a linear head on the
embedding, squared error on standardised features. The features are
computed once for `--text_pretrain_images` training images; a step then
costs only the encoder's work.

`--text_embedding_std` then whitens the embedding over the training
captions (`whiten_embedding`). The head is thrown away; the encoder's
weights are cached in the work dir (`text_encoder/`), like the pretrained
teacher, so a rerun reuses them.
"""

import io
import time
from typing import Callable
from typing import Dict
from typing import List
from typing import Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.text import augmentation
from sdn_tf.training import finite_guard
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import files
from sdn_tf.utils import progress

WEIGHTS_NAME = "encoder_weights.npz"
REPORT_NAME = "encoder_pretraining.json"
_BATCH = 64
_FEATURE_BATCH = 64
_LOG_EVERY = 100
_WHITENING_CAPTIONS = 4096
# Flags whose change makes a cached encoder stale (--seed picks the
# sampled images and the initial weights).
_SETTINGS = (
  "seed",
  "text_pretrain_point",
  "text_pretrain_steps",
  "text_pretrain_images",
  "text_pretrain_learning_rate",
  "text_augmentation",
  "text_embedding_std",
  "embedding_dim",
  "tokenizer_mode",
  "text_architecture",
)


def cached_paths(workdir: str) -> Tuple[str, str]:
  folder = workdir_lib.text_encoder_dir(workdir)
  return files.join(folder, WEIGHTS_NAME), files.join(folder, REPORT_NAME)


def _sample_positions(data_dir: str, split: str, num_images: int, seed: int):
  """Which images (by position in file order) to use: a seeded sample
  spread over the whole split, since records are written class by class
  and the first N images of a split cover only its first classes."""
  total = input_pipeline.count_examples(data_dir, split)
  if not total or total <= num_images:
    return None  # all of them
  rng = np.random.default_rng(seed)
  return sorted(rng.choice(total, num_images, replace=False).tolist())


def teacher_features(
  teacher: keras.Model,
  config: Config,
  data_dir: str,
  split: str,
  num_images: int,
) -> Tuple[np.ndarray, np.ndarray]:
  """(captions [N, C] bytes, flattened teacher features [N, D] float32).

  `num_images` images of `split`, sampled with `config.seed` across the
  split; an image with fewer than C captions repeats its first one.
  """
  chosen = _sample_positions(data_dir, split, num_images, config.seed)
  # One element per (image, caption), in order: an image's captions are
  # consecutive, and may straddle two batches. Only the chosen images are
  # read and decoded.
  dataset = input_pipeline.make_dataset(
    data_dir,
    split,
    global_batch_size=_FEATURE_BATCH,
    image_size=config.image_size,
    training=False,
    all_captions=True,
    deterministic=True,
    seed=config.seed,
    drop_remainder=False,
    positions=chosen,
  )
  captions: Dict[bytes, List[bytes]] = {}
  features: List[np.ndarray] = []
  for batch in dataset:
    new, done = [], False
    for i, (image_id, caption) in enumerate(
      zip(batch["id"].numpy(), batch["caption"].numpy())
    ):
      if image_id not in captions:
        if len(captions) == num_images:
          done = True
          break
        captions[image_id] = []
        new.append(i)
      captions[image_id].append(caption)
    if new:
      images = teacher_lib.to_teacher_space(
        tf.gather(batch["image"], new), config.input_scaling
      )
      point = teacher(images, training=False)[config.text_pretrain_point]
      features.extend(
        tf.reshape(tf.cast(point, tf.float32), [len(new), -1]).numpy()
      )
    if done:
      break
  kept = list(captions.values())
  width = max(len(c) for c in kept)
  table = np.array([c + [c[0]] * (width - len(c)) for c in kept], dtype=object)
  return table, np.stack(features)


def embed(
  encoder: keras.layers.Layer, captions: np.ndarray, batch_size: int = 256
) -> np.ndarray:
  """The encoder's float32 embeddings [N, D] of `captions` (bytes or str)."""
  return np.concatenate(
    [
      keras.ops.convert_to_numpy(
        tf.cast(
          encoder(
            tf.constant(list(captions[i : i + batch_size])), training=False
          ),
          tf.float32,
        )
      )
      for i in range(0, len(captions), batch_size)
    ]
  )


def standardise(train: np.ndarray, *others: np.ndarray):
  mean = train.mean(axis=0)
  std = train.std(axis=0) + 1e-3
  return [(x - mean) / std for x in (train,) + others]


def _variance_explained(predicted: np.ndarray, target: np.ndarray) -> float:
  # Targets are standardised on the training set: their variance is ~1.
  residual = np.mean((predicted - target) ** 2)
  return float(1.0 - residual / np.mean(np.square(target - target.mean(0))))


def fit_encoder(
  encoder: keras.layers.Layer,
  captions: np.ndarray,
  targets: np.ndarray,
  config: Config,
  rng: np.random.Generator,
) -> Tuple[keras.layers.Layer, List[float]]:
  """Trains `encoder` in place, with a linear head, to predict `targets`.

  `captions` [N, C] are the captions of N images, `targets` [N, D] their
  standardised features; `rng` draws the batches and augmentations.
  Returns the head and the loss of each step whose update was applied.
  """
  # float32 whatever the precision policy: the targets and loss are.
  head = keras.layers.Dense(
    targets.shape[1], dtype="float32", name="alignment_head"
  )
  # Variables are made here, eagerly, not inside the compiled step.
  head(tf.cast(encoder(tf.constant(["a"])), tf.float32))
  optimizer = keras.optimizers.Adam(config.text_pretrain_learning_rate)

  # No AutoGraph, as in distillation.make_train_step: faster to trace.
  @tf.function(jit_compile=config.use_xla, autograph=False)
  def loss_and_gradients(prepared, batch_targets, poison):
    with tf.GradientTape() as tape:
      predicted = head(
        tf.cast(encoder.encode(prepared, training=True), tf.float32)
      )
      loss = tf.reduce_mean(tf.square(predicted - batch_targets))
      loss = finite_guard.poisoned(loss, poison)
    variables = encoder.trainable_variables + head.trainable_variables
    gradients = tape.gradient(loss, variables)
    return loss, gradients, finite_guard.all_finite(loss, gradients)

  @tf.function(autograph=False)
  def train_step(texts, batch_targets, poison):
    loss, gradients, finite = loss_and_gradients(
      encoder.prepare(texts), batch_targets, poison
    )
    applied = finite_guard.apply_if_finite(
      optimizer,
      gradients,
      encoder.trainable_variables + head.trainable_variables,
      finite,
    )
    return loss, applied

  steps = config.text_pretrain_steps
  meter = progress.RateMeter(0)
  losses = []
  guard = finite_guard.NonFiniteSteps(config, "text_pretrain")
  for step in range(1, steps + 1):
    rows = rng.integers(len(targets), size=_BATCH)
    columns = rng.integers(captions.shape[1], size=_BATCH)
    loss, applied = train_step(
      tf.constant(
        augmentation.augment_captions(
          captions[rows, columns], rng, config.text_augmentation
        )
      ),
      tf.constant(targets[rows]),
      guard.poison(step),
    )
    if guard.check(bool(applied), step):
      losses.append(float(loss))
    if step % _LOG_EVERY == 0 or step == steps:
      rate = meter.tick(step)
      logging.info(
        progress.progress_line(
          "text_pretrain",
          step,
          steps,
          {"loss": np.mean(losses[-_LOG_EVERY:])},
          rate,
          _BATCH,
          meter.eta(step, steps),
        )
      )

  return head, losses


def pretrain_encoder(
  encoder: keras.layers.Layer,
  teacher: keras.Model,
  config: Config,
  data_dir: str,
) -> Dict:
  """Trains `encoder` in place to predict the teacher's features; a report."""
  start = time.monotonic()
  num_images = config.text_pretrain_images
  train_captions, train_targets = teacher_features(
    teacher, config, data_dir, "train", num_images
  )
  # Judged on validation where the records have it: the test split stays
  # closed except for the numbers that are reported.
  heldout_split = (
    "validation" if input_pipeline.has_split(data_dir, "validation") else "test"
  )
  heldout_captions, heldout_targets = teacher_features(
    teacher, config, data_dir, heldout_split, max(num_images // 8, _BATCH)
  )
  train_targets, heldout_targets = standardise(train_targets, heldout_targets)
  logging.info(
    "Text pretraining: %s features of %d train images in %s",
    config.text_pretrain_point,
    len(train_targets),
    progress.format_duration(time.monotonic() - start),
  )

  # One generator for the batches and then the whitening's sample.
  rng = np.random.default_rng(config.seed)
  head, losses = fit_encoder(
    encoder, train_captions, train_targets, config, rng
  )

  def predict(captions: np.ndarray) -> np.ndarray:
    return head(tf.constant(embed(encoder, captions), tf.float32)).numpy()

  # Mean training loss over the first and the last quarter (<= 100 steps).
  steps = config.text_pretrain_steps
  window = max(1, min(_LOG_EVERY, steps // 4))
  # Held out: the first caption of each held-out image.
  explained = _variance_explained(
    predict(heldout_captions[:, 0]), heldout_targets
  )
  report = {
    "point": config.text_pretrain_point,
    "steps": steps,
    "images": int(len(train_targets)),
    "first_train_loss": float(np.mean(losses[:window])),
    "final_train_loss": float(np.mean(losses[-window:])),
    "heldout_split": heldout_split,
    "heldout_variance_explained": round(explained, 4),
    "seconds": round(time.monotonic() - start, 1),
  }
  logging.info(
    "Text pretraining done: %.1f%% of the %s images' "
    "teacher features explained by their captions",
    100 * explained,
    heldout_split,
  )
  if config.text_embedding_std:
    captions = np.unique(train_captions)
    if len(captions) > _WHITENING_CAPTIONS:  # Plenty for a 256-d covariance.
      captions = rng.choice(captions, _WHITENING_CAPTIONS, replace=False)
    report["whitening"] = whiten_embedding(
      encoder, captions, config.text_embedding_std
    )
  return report


def whiten_embedding(
  encoder: keras.layers.Layer,
  captions: np.ndarray,
  std: float,
  relative_epsilon: float = 1e-2,
) -> Dict:
  """Makes the embedding of `captions` white, with `std` in every direction.

  The transform (ZCA: centre, then scale each principal direction to `std`
  and rotate back) is folded into the encoder's projection. Directions with
  less than `relative_epsilon` of the mean variance stay damped, so noise
  is not blown up. Returns a summary for the report.

  Why: Stage I trains the student's caption-reading weights with Adam,
  which moves each of them by about the learning rate per step whatever its
  gradient's scale, so the embedding's scale, not the loss, sets how fast
  the caption-dependent parts of the student change (docs/METHOD_NOTES.md
  measures it). Whitened rather than only rescaled, because some attributes
  (size, background) live in the embedding's weak directions.
  """
  unique = np.unique(captions)
  embeddings = embed(encoder, unique).astype(np.float64)
  mean = embeddings.mean(axis=0)
  variances, vectors = np.linalg.eigh(np.cov(embeddings, rowvar=False))
  variances = np.maximum(variances, 0.0)
  epsilon = relative_epsilon * variances.mean()
  matrix = std * (vectors / np.sqrt(variances + epsilon)) @ vectors.T
  encoder.fold_output_transform(
    mean.astype(np.float32), matrix.astype(np.float32)
  )
  explained = np.cumsum(variances[::-1]) / variances.sum()
  return {
    "captions": int(len(unique)),
    "std": std,
    "directions_for_90_percent_of_variance": int(
      np.searchsorted(explained, 0.9)
    )
    + 1,
  }


def save_encoder_weights(encoder: keras.layers.Layer, path: str) -> None:
  """Writes the encoder's weights (in creation order) to an .npz file."""
  files.makedirs(files.split(path)[0])
  arrays = {
    f"w{i:03d}": keras.ops.convert_to_numpy(w)
    for i, w in enumerate(encoder.weights)
  }
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  files.write_atomically(path, buffer.getvalue())


def load_encoder_weights(encoder: keras.layers.Layer, path: str) -> None:
  """Assigns the weights `save_encoder_weights` wrote; shapes must agree."""
  with np.load(io.BytesIO(files.read_bytes(path))) as arrays:
    values = [arrays[f"w{i:03d}"] for i in range(len(arrays.files))]
  weights = encoder.weights
  if len(values) != len(weights) or any(
    tuple(v.shape) != tuple(w.shape) for v, w in zip(values, weights)
  ):
    raise ValueError(
      f"{path} does not hold this encoder's weights (trained "
      f"with other --embedding_dim or tokenizer flags?); "
      f"delete it to pretrain again"
    )
  for weight, value in zip(weights, values):
    weight.assign(value)


def _settings(config: Config, teacher_identity: str) -> Dict:
  """The flags and the teacher that shape the pretrained encoder."""
  settings = {name: getattr(config, name) for name in _SETTINGS}
  # It learns the teacher's features: aligned with another teacher (another
  # pooling, or one pretrained again), a cached encoder is stale.
  settings["teacher"] = teacher_identity
  return settings


def resolve_encoder_weights(
  config: Config,
  workdir: str,
  data_dir: str,
  make_encoder,
  make_teacher,
  identify_teacher: Callable[[], str],
):
  """The pretrained encoder weights' path, pretraining once if not cached.

  `identify_teacher()` returns `teacher.identity(...)` of the teacher that
  `make_teacher` builds (called only when needed: it hashes the weights).
  Returns None when --text_pretrain_steps is 0.
  """
  if not config.text_pretrain_steps:
    return None
  teacher_identity = identify_teacher()
  weights_path, report_path = cached_paths(workdir)
  if files.exists(weights_path):
    stale = workdir_lib.cache_differences(
      report_path, _settings(config, teacher_identity)
    )
    if not stale:
      logging.info("Reusing the pretrained text encoder %s", weights_path)
      return weights_path
    logging.warning(
      "The cached text encoder %s was pretrained with other flags or "
      "another teacher (%s): "
      "pretraining it again",
      weights_path,
      stale,
    )
  encoder = make_encoder()
  report = pretrain_encoder(encoder, make_teacher(), config, data_dir)
  report["settings"] = _settings(config, teacher_identity)
  # The old report goes first and the new one comes last: weights without
  # a report read as stale, never as a finished cache.
  files.remove(report_path)
  save_encoder_weights(encoder, weights_path)
  files.write_json(report_path, report)
  return weights_path
