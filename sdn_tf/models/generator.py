"""The generator as trained and served: caption encoder E + student G."""

import os
from typing import Optional

import keras
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import tfrecord_schema
from sdn_tf.models import student as student_lib
from sdn_tf.text import encoders
from sdn_tf.text import tokenizer as tokenizer_lib

# Char mode reads characters, about this many per word token.
_CHARS_PER_WORD = 8


class TextToImage(keras.Model):
  """Caption (strings or a precomputed embedding) [+ noise] -> student outputs."""

  def __init__(self, encoder: keras.layers.Layer,
               student: student_lib.Student, **kwargs):
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
    # Exports use explicit signatures (sdn_tf.serving); Keras' guessed one
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


def make_encoder(config: Config, data_dir: str) -> keras.layers.Layer:
  """The caption encoder `config.text_encoder` names."""
  if config.text_encoder == "precomputed":
    return encoders.PrecomputedEncoder(config.embedding_dim, name="encoder")
  if config.text_encoder == "hub":
    return encoders.HubEncoder(config.hub_handle, name="encoder")
  max_length = config.max_caption_length * (
      _CHARS_PER_WORD if config.tokenizer_mode == "char" else 1)
  tokenizer = tokenizer_lib.CaptionTokenizer(
      os.path.join(data_dir, tfrecord_schema.VOCAB_FILE),
      mode=config.tokenizer_mode, max_length=max_length,
      num_oov_buckets=1, name="tokenizer")
  return encoders.CnnRnnEncoder(tokenizer, config.embedding_dim,
                                name="encoder")


def make_generator(config: Config, data_dir: str,
                   embedding_dim: Optional[int] = None) -> TextToImage:
  """Encoder + student as `config` describes (variables not yet built)."""
  encoder = make_encoder(config, data_dir)
  student = student_lib.Student(
      image_size=config.image_size,
      embedding_dim=embedding_dim or getattr(encoder, "output_dim",
                                             config.embedding_dim),
      noise_dim=config.noise_dim, fc_units=config.fc_units,
      normalization=config.normalization,
      conditional_norm=config.conditional_norm,
      upsampling=config.upsampling,
      calibrated_outputs=config.calibrated_outputs, name="student")
  return TextToImage(encoder, student, name="generator")
