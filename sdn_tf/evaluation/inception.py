"""InceptionV3 features and class predictions for IS and FID of natural images.

`keras.applications.InceptionV3` with its 1,000-class top: "imagenet"
weights (downloaded by Keras on first use), a weights file by path (e.g. a
birds- or flowers-fine-tuned Inception saved as a whole Keras model), or
None (random; for tests). Features are the 2,048-d pooled layer, as in
the FID paper; images are resized to 299 x 299.
"""

from typing import Dict
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from sdn_tf.utils import files

INPUT_SIZE = 299
FEATURE_LAYER = "avg_pool"


class InceptionScorer:
  """Pool features and softmax predictions of uint8 images."""

  def __init__(self, weights: Optional[str] = "imagenet"):
    if weights and weights != "imagenet":
      if not files.isfile(weights):
        raise FileNotFoundError(f"--inception_weights={weights}: no such file")
      model = keras.models.load_model(weights, compile=False)
      self.name = f"InceptionV3 from {weights}"
    else:
      model = keras.applications.InceptionV3(weights=weights)
      self.name = f"InceptionV3 ({weights or 'random'} weights)"
    features = model.get_layer(FEATURE_LAYER).output
    self._model = keras.Model(model.input, [features, model.output])
    self._call = tf.function(
      lambda x: self._model(x, training=False), reduce_retracing=True
    )

  def run(
    self, images: np.ndarray, batch_size: int = 32
  ) -> Dict[str, np.ndarray]:
    """{"features": [N, 2048], "probabilities": [N, classes]}."""
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
      batch = tf.image.resize(
        tf.constant(images[start : start + batch_size], tf.float32),
        (INPUT_SIZE, INPUT_SIZE),
      )
      f, p = self._call(keras.applications.inception_v3.preprocess_input(batch))
      features.append(f.numpy())
      probabilities.append(p.numpy())
    return {
      "features": np.concatenate(features),
      "probabilities": np.concatenate(probabilities),
    }
