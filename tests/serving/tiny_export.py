"""An untrained, tiny generator exported the way training exports one.

The serving tests need a real SavedModel (the real graph, tokeniser and
signatures) but not a trained one: this builds the generator that a small
`Config` describes and writes it with `export_lib.export_generator`, in
seconds.
"""

import os

from sdn_tf.config import Config
from sdn_tf.data.records import schema
from sdn_tf.text import vocab

WORDS = ("a", "small", "large", "red", "blue", "circle", "square", "on", "the")


def tiny_config(**overrides) -> Config:
  """A 32-px generator with narrow layers; `overrides` replace options."""
  values = dict(
    image_size=32,
    embedding_dim=16,
    fc_units=32,
    noise_dim=4,
    text_encoder="trainable",
    tokenizer_mode="word",
  )
  values.update(overrides)
  return Config(**values)


def write_vocab(data_dir: str) -> None:
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, schema.VOCAB_FILE), "w") as f:
    f.write("\n".join(vocab.RESERVED_TOKENS + WORDS) + "\n")


def export_tiny(root: str, **overrides) -> str:
  """Writes a tiny generator under `root/export/`; returns the version dir."""
  # pylint: disable=g-import-not-at-top
  from sdn_tf.serving import export_lib
  from sdn_tf.training import builders

  # pylint: enable=g-import-not-at-top
  config = tiny_config(**overrides)
  data_dir = os.path.join(root, "data")
  write_vocab(data_dir)
  generator = builders.make_generator(config, data_dir)
  generator.build_for(1)
  return export_lib.export_generator(
    generator, config, data_dir, os.path.join(root, "export")
  )


if __name__ == "__main__":
  import sys

  print(export_tiny(sys.argv[1]))
