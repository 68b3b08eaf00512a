"""The generator as trained and served: caption encoder E + student G.

Pure Keras: it takes the encoder and the student it is made of;
`sdn_tf.training.builders` builds one from a `Config`.
"""

import keras
import tensorflow as tf

from sdn_tf.models import student as student_lib


class TextToImage(keras.Model):
  """Caption (strings or a precomputed embedding) [+ noise] -> student outputs."""

  def __init__(
    self, encoder: keras.layers.Layer, student: student_lib.Student, **kwargs
  ):
    super().__init__(**kwargs)
    self.encoder = encoder
    self.student = student

  def build(self, *args, **kwargs):
    # Sublayers build on their first call (`build_for`); nothing to do here.
    self.built = True

  @property
  def input_key(self) -> str:
    """The batch feature the encoder reads: "caption" or "embedding"."""
    return self.encoder.input_key

  @property
  def noise_dim(self) -> int:
    return self.student.noise_dim

  def call(self, inputs, noise=None, training=False):
    return self.from_prepared(self.prepare(inputs), noise, training=training)

  def prepare(self, inputs):
    """The encoder's non-compilable part (tokenisation, frozen hub module)."""
    return self.encoder.prepare(inputs)

  def from_prepared(self, prepared, noise=None, training=False):
    """Student outputs from `prepare`'s result: the XLA-compilable part."""
    embedding = self.encoder.encode(prepared, training=training)
    return self.student(embedding, noise, training=training)

  @property
  def _default_save_signature(self):
    # Exports use explicit signatures (sdn_tf.serving.export_lib); Keras' guessed one
    # would feed floats to the string input.
    return None

  def build_for(self, batch_size: int = 1) -> None:
    """Creates every variable (call under the strategy's scope)."""
    if self.input_key == "caption":
      inputs = tf.constant([""] * batch_size)
    else:
      inputs = tf.zeros((batch_size, self.encoder.output_dim))
    noise = tf.zeros((batch_size, self.noise_dim)) if self.noise_dim else None
    self(inputs, noise)
