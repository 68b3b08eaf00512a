"""Loads an exported generator (a SavedModel version dir) and draws with it.

The export's `generate` signature takes raw caption strings and int64
seeds; these helpers find the newest version under an export root and turn
Python captions into uint8 images. They read no flags, so every CLI can
share them.
"""

from typing import Sequence

import numpy as np

from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError


def resolve_model_dir(model_dir: str) -> str:
  """The SavedModel dir `model_dir` names: itself, or its highest numbered
  version that holds a SavedModel (one still being written has none yet).

  Raises:
    UsageError: naming --model_dir, when there is no SavedModel there.
  """
  if not model_dir:
    raise UsageError("required", flag="model_dir")
  if not files.isdir(model_dir):
    raise UsageError(f"{model_dir} is not a directory", flag="model_dir")
  if workdir_lib.holds_saved_model(model_dir):
    return model_dir
  latest = workdir_lib.latest_export(model_dir)
  if latest is None:
    raise UsageError(
      f"no SavedModel in {model_dir} nor in a numbered version dir under it",
      flag="model_dir",
    )
  return latest


def to_bytes(caption: str) -> bytes:
  # Arguments that are not valid UTF-8 reach Python as surrogate escapes;
  # they go to the model as the bytes the user gave.
  return caption.encode("utf-8", "surrogateescape")


def load_generate_signature(model_dir: str):
  """The `generate` signature of the SavedModel in `model_dir`."""
  # tf-text registers the tokenizer's ops, which the SavedModel's graph uses.
  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  # registers its ops for the graph

  # pylint: enable=g-import-not-at-top,unused-import
  model = tf.saved_model.load(model_dir)
  signature = model.signatures["generate"]
  inputs = signature.structured_input_signature[1]
  if "text" not in inputs:
    raise UsageError(
      f"the model in {model_dir} takes "
      f"{', '.join(sorted(inputs))}, not caption text "
      f"(trained with --text_encoder=precomputed?)",
      flag="model_dir",
    )
  # Keep the model alive as long as its signature.
  signature.saved_model = model
  return signature


def draw(
  signature, captions: Sequence[str], num_samples: int, seed: int
) -> np.ndarray:
  """uint8 images [len(captions), num_samples, R, R, 3] from `signature`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  # Row-major: the num_samples seeds of one caption sit next to each other.
  texts = [to_bytes(c) for c in captions for _ in range(num_samples)]
  seeds = [seed + j for _ in captions for j in range(num_samples)]
  outputs = signature(
    text=tf.constant(texts, tf.string), seed=tf.constant(seeds, tf.int64)
  )
  images = outputs["image"].numpy()
  return images.reshape((len(captions), num_samples) + images.shape[1:])


def generate(
  model_dir: str, captions: Sequence[str], num_samples: int, seed: int
) -> np.ndarray:
  """uint8 images [len(captions), num_samples, R, R, 3] from `generate`."""
  return draw(load_generate_signature(model_dir), captions, num_samples, seed)
