"""A text-image matching model, for R-precision, loaded from a SavedModel.

R-precision needs embeddings of images and captions in one space, from a
model trained for that (AttnGAN's DAMSM encoders, a CLIP model). sdn_tf
takes any SavedModel whose root object has two functions:

  encode_images(images: uint8 [N, H, W, 3]) -> float [N, F]
  encode_text(text: string [N]) -> float [N, F]

Images come at the generator's size; a model that wants another size
resizes them itself.
"""

from typing import Sequence

import numpy as np
import tensorflow as tf

from sdn_tf.utils import files

FUNCTIONS = ("encode_images", "encode_text")
_BATCH = 64


class MatchingModel:
  """Image and caption embeddings from a matching SavedModel."""

  def __init__(self, path: str):
    if not files.isdir(path):
      raise FileNotFoundError(f"{path}: no such SavedModel directory")
    self.path = path
    self._loaded = tf.saved_model.load(path)
    missing = [f for f in FUNCTIONS if not hasattr(self._loaded, f)]
    if missing:
      raise ValueError(
        f"{path} has no {' or '.join(missing)}: a matching model must "
        "expose encode_images(uint8 images [N, H, W, 3]) and "
        "encode_text(strings [N]), each giving [N, F] embeddings"
      )

  def _run(self, function, inputs) -> np.ndarray:
    parts = [
      np.asarray(function(inputs[start : start + _BATCH]), np.float32)
      for start in range(0, len(inputs), _BATCH)
    ]
    return np.concatenate(parts)

  def image_features(self, images: np.ndarray) -> np.ndarray:
    return self._run(
      lambda batch: self._loaded.encode_images(tf.constant(batch, tf.uint8)),
      images,
    )

  def text_features(self, captions: Sequence[str]) -> np.ndarray:
    return self._run(
      lambda batch: self._loaded.encode_text(tf.constant(list(batch))),
      list(captions),
    )
