"""The exported generator: a SavedModel in TF Serving's layout.

`export_generator` writes `<export_root>/<version>/` (a new integer version,
the highest so far plus one) via a temporary directory renamed into place,
so TF Serving, which watches the root, never sees a half-written model.

Signatures (tokenisation is inside the graph: raw strings in):
  serving_default(text: string [batch]) -> image uint8 [batch, R, R, 3],
                                           image_png_bytes string [batch]
      with fixed noise (seed 0 for every row): a caption always gives the
      same image;
  generate(text: string [batch], seed: int64 [batch]) -> the same outputs,
      each row's noise drawn from its seed.
With `--text_encoder=precomputed` the input is `embedding` float32
[batch, D] instead of `text` (the char-CNN-RNN that made the embeddings is
not part of this model).

The generator is re-created in float32 for export, whatever policy it was
trained with, so any CPU or accelerator can serve it.
"""

import os
import shutil
from typing import Optional

from absl import logging
import keras
import tensorflow as tf

# Keeps the serving graph's lookups of this module's ops (tf-text) linked.
import tensorflow_text  # noqa: F401  # registers its ops for the graph

from sdn_tf.config import Config
from sdn_tf.models import generator as generator_lib
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import builders
from sdn_tf.training import workdir as workdir_lib


class GeneratorServing(tf.Module):
  """The serving signatures around a float32 generator."""

  def __init__(self, generator: generator_lib.TextToImage, config: Config):
    super().__init__(name="sdn_generator")
    self.generator = generator
    self._noise_dim = generator.noise_dim
    self._input_scaling = config.input_scaling
    if generator.input_key == "caption":
      input_spec = tf.TensorSpec([None], tf.string, name="text")
    else:
      input_spec = tf.TensorSpec(
        [None, generator.encoder.output_dim], tf.float32, name="embedding"
      )
    seed_spec = tf.TensorSpec([None], tf.int64, name="seed")
    self.serving_default = tf.function(
      self._serve, input_signature=[input_spec]
    )
    self.generate = tf.function(
      self._generate, input_signature=[input_spec, seed_spec]
    )

  def _noise(self, seeds: tf.Tensor) -> Optional[tf.Tensor]:
    if not self._noise_dim:
      return None
    return tf.map_fn(
      lambda s: tf.random.stateless_normal(
        [self._noise_dim], seed=tf.stack([s, tf.constant(0, tf.int64)])
      ),
      seeds,
      fn_output_signature=tf.float32,
    )

  def _draw(self, inputs, seeds):
    outputs = self.generator(inputs, self._noise(seeds), training=False)
    image = teacher_lib.to_uint8_rgb(outputs["image"], self._input_scaling)
    png = tf.map_fn(tf.io.encode_png, image, fn_output_signature=tf.string)
    return {"image": image, "image_png_bytes": png}

  def _serve(self, inputs):
    return self._draw(inputs, tf.zeros(tf.shape(inputs)[:1], tf.int64))

  def _generate(self, inputs, seed):
    return self._draw(inputs, seed)


def float32_copy(
  generator: generator_lib.TextToImage, config: Config, data_dir: str
) -> generator_lib.TextToImage:
  """The same generator with float32 variables and computation."""
  previous = keras.mixed_precision.global_policy()
  keras.mixed_precision.set_global_policy("float32")
  try:
    copy = builders.make_generator(
      config, data_dir, generator.student.embedding_dim
    )
    copy.build_for(1)
  finally:
    keras.mixed_precision.set_global_policy(previous)
  copy.set_weights(generator.get_weights())
  return copy


def next_version(export_root: str) -> int:
  """One more than the highest integer version under `export_root`."""
  return max(workdir_lib.export_versions(export_root), default=0) + 1


def export_generator(
  generator: generator_lib.TextToImage,
  config: Config,
  data_dir: str,
  export_root: str,
) -> str:
  """Writes a new SavedModel version under `export_root`; returns its path."""
  module = GeneratorServing(float32_copy(generator, config, data_dir), config)
  os.makedirs(export_root, exist_ok=True)
  version = next_version(export_root)
  final = os.path.join(export_root, str(version))
  partial = os.path.join(export_root, f".partial-{version}")
  shutil.rmtree(partial, ignore_errors=True)
  tf.saved_model.save(
    module,
    partial,
    signatures={
      "serving_default": module.serving_default,
      "generate": module.generate,
    },
  )
  os.rename(partial, final)
  logging.info("SavedModel version %d written to %s", version, final)
  return final
