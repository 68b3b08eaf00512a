"""Builds the networks a `Config` describes, for training and export.

`sdn_tf.models` and `sdn_tf.text` take explicit constructor arguments and
know nothing of `Config` or of the prepared data's layout; this module
turns the options (and the data dir's vocabulary) into those arguments.
"""

from typing import Optional

import keras

from sdn_tf.config import Config
from sdn_tf.data.records import schema
from sdn_tf.models import generator as generator_lib
from sdn_tf.models import student as student_lib
from sdn_tf.text import encoders
from sdn_tf.text import tokenizer as tokenizer_lib
from sdn_tf.utils import files

# Char mode reads characters, about this many per word token.
_CHARS_PER_WORD = 8


def make_encoder(config: Config, data_dir: str) -> keras.layers.Layer:
  """The caption encoder `config.text_encoder` names."""
  if config.text_encoder == "precomputed":
    return encoders.PrecomputedEncoder(config.embedding_dim, name="encoder")
  if config.text_encoder == "hub":
    return encoders.HubEncoder(config.hub_handle, name="encoder")
  max_length = config.max_caption_length * (
    _CHARS_PER_WORD if config.tokenizer_mode == "char" else 1
  )
  tokenizer = tokenizer_lib.CaptionTokenizer(
    files.join(data_dir, schema.VOCAB_FILE),
    mode=config.tokenizer_mode,
    max_length=max_length,
    num_oov_buckets=1,
    name="tokenizer",
  )
  architecture = {
    "cnn_rnn": encoders.CnnRnnEncoder,
    "bag_of_words": encoders.BagOfWordsEncoder,
  }[config.text_architecture]
  return architecture(tokenizer, config.embedding_dim, name="encoder")


def make_generator(
  config: Config, data_dir: str, embedding_dim: Optional[int] = None
) -> generator_lib.TextToImage:
  """Encoder + student as `config` describes (variables not yet built)."""
  encoder = make_encoder(config, data_dir)
  student = student_lib.Student(
    image_size=config.image_size,
    embedding_dim=embedding_dim
    or getattr(encoder, "output_dim", config.embedding_dim),
    noise_dim=config.noise_dim,
    fc_units=config.fc_units,
    normalization=config.normalization,
    conditional_norm=config.conditional_norm,
    upsampling=config.upsampling,
    calibrated_outputs=config.calibrated_outputs,
    name="student",
  )
  return generator_lib.TextToImage(encoder, student, name="generator")
