"""The exported generator: a SavedModel in TF Serving's layout.

`export_generator` writes `<export_root>/<version>/`, a new integer version
(see `sdn_tf.serving.versions`: written privately, flushed, renamed; the
same weights exported again add no version), with TF Serving's warm-up
requests in `assets.extra/`.

Signatures (tokenisation is inside the graph: raw strings in):
  serving_default(text: string [batch]) -> image uint8 [batch, R, R, 3],
                                           image_png_bytes string [batch]
      with fixed noise (seed 0 for every row): a caption always gives the
      same image;
  generate(text: string [batch], seed: int64 [batch]) -> the same outputs,
      each row's noise drawn from its seed.
With `--text_encoder=precomputed` the input is `embedding` float32
[batch, D] instead of `text` (the char-CNN-RNN that made the embeddings is
not part of this model). Any string is a valid caption; a batch may be
empty, and one over `MAX_BATCH` rows fails with INVALID_ARGUMENT naming the
limit.

The generator is re-created in float32 for export, whatever policy it was
trained with, so any CPU or accelerator can serve it. The SavedModel is
written with Keras' `ExportArchive`: with a plain `tf.Module` around a
Keras 3 model, the variables TF Serving's loader restores are not the ones
the signatures read (keras-team/keras#19274).
"""

import hashlib

from absl import logging
import keras
import tensorflow as tf

# Keeps the serving graph's lookups of this module's ops (tf-text) linked.
import tensorflow_text  # noqa: F401  # registers its ops for the graph

from sdn_tf.config import Config
from sdn_tf.data.records import schema
from sdn_tf.models import generator as generator_lib
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.serving import versions
from sdn_tf.serving import warmup
from sdn_tf.training import builders
from sdn_tf.utils import files

# Rows per request; a server that wants more batches requests itself.
MAX_BATCH = 256
# Bump when the signatures change, so that an unchanged model is exported
# again rather than deduplicated against an export of the old format.
EXPORT_FORMAT = 2


class ServingFunctions:
  """The signature functions around a float32 generator."""

  def __init__(self, generator: generator_lib.TextToImage, config: Config):
    self.generator = generator
    self._noise_dim = generator.noise_dim
    self._input_scaling = config.input_scaling
    self._image_size = config.image_size
    if generator.input_key == "caption":
      self.input_spec = tf.TensorSpec([None], tf.string, name="text")
    else:
      self.input_spec = tf.TensorSpec(
        [None, generator.encoder.output_dim], tf.float32, name="embedding"
      )
    self.seed_spec = tf.TensorSpec([None], tf.int64, name="seed")

  def _noise(self, seeds: tf.Tensor):
    if not self._noise_dim:
      return None
    return tf.map_fn(
      lambda s: tf.random.stateless_normal(
        [self._noise_dim], seed=tf.stack([s, tf.constant(0, tf.int64)])
      ),
      seeds,
      fn_output_signature=tf.float32,
    )

  def _images(self, inputs, seeds):
    outputs = self.generator(inputs, self._noise(seeds), training=False)
    image = teacher_lib.to_uint8_rgb(outputs["image"], self._input_scaling)
    png = tf.map_fn(tf.io.encode_png, image, fn_output_signature=tf.string)
    return image, png

  def _empty(self):
    size = self._image_size
    return tf.zeros([0, size, size, 3], tf.uint8), tf.zeros([0], tf.string)

  def _draw(self, inputs, seeds):
    batch = tf.shape(inputs)[0]
    within_limit = tf.debugging.assert_less_equal(
      batch,
      MAX_BATCH,
      message=f"at most {MAX_BATCH} captions per request (MAX_BATCH)",
    )
    with tf.control_dependencies([within_limit]):
      # oneDNN's convolutions reject an empty batch; answer it directly.
      image, png = tf.cond(
        batch > 0, lambda: self._images(inputs, seeds), self._empty
      )
    return {"image": image, "image_png_bytes": png}

  def serve(self, inputs):
    return self._draw(inputs, tf.zeros(tf.shape(inputs)[:1], tf.int64))

  def generate(self, inputs, seed):
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


def fingerprint(
  generator: generator_lib.TextToImage, config: Config, data_dir: str
) -> str:
  """A digest of what decides the export's answers: weights, options, the
  vocabulary and the signatures' format."""
  digest = hashlib.sha256()
  digest.update(f"format {EXPORT_FORMAT}".encode())
  digest.update(config.to_json().encode())
  vocab = files.join(data_dir, schema.VOCAB_FILE)
  if files.isfile(vocab):
    digest.update(files.read_bytes(vocab))
  for weight in generator.get_weights():
    digest.update(weight.tobytes())
  return digest.hexdigest()


def write_saved_model(
  generator: generator_lib.TextToImage, config: Config, path: str
) -> None:
  """The SavedModel with both signatures and its warm-up requests."""
  functions = ServingFunctions(generator, config)
  archive = keras.export.ExportArchive()
  archive.track(generator)
  # serving_default first: ExportArchive would alias the first endpoint.
  archive.add_endpoint(
    "serving_default", functions.serve, input_signature=[functions.input_spec]
  )
  archive.add_endpoint(
    "generate",
    functions.generate,
    input_signature=[functions.input_spec, functions.seed_spec],
  )
  archive.write_out(path, verbose=False)
  embedding_dim = functions.input_spec.shape[-1] or 0
  warmup.write_warmup_requests(
    path, functions.input_spec.name, int(embedding_dim)
  )


def export_generator(
  generator: generator_lib.TextToImage,
  config: Config,
  data_dir: str,
  export_root: str,
  keep_exports: int = 0,
) -> str:
  """Writes a new SavedModel version under `export_root`; returns its path.

  When the newest version with the same fingerprint exists already, nothing
  is written and its path is returned. `keep_exports` > 0 then keeps only
  the newest that many versions.
  """
  serving_copy = float32_copy(generator, config, data_dir)
  digest = fingerprint(serving_copy, config, data_dir)
  existing = versions.find_fingerprint(export_root, digest)
  if existing:
    logging.info("The generator is exported already, unchanged: %s", existing)
    return existing
  partial = versions.make_partial_dir(export_root)
  try:
    write_saved_model(serving_copy, config, partial)
    versions.write_export_info(
      partial,
      {"fingerprint": digest, "format": EXPORT_FORMAT, "max_batch": MAX_BATCH},
    )
    files.sync_tree(partial)
    final = versions.publish(partial, export_root)
  except BaseException:
    files.rmtree(partial, ignore_errors=True)
    raise
  versions.prune(export_root, keep_exports)
  return final
