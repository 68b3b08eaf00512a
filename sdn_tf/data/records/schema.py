"""The TFRecord format: feature keys, writing an Example and parsing it back.

Written by `tools/prepare_dataset.py` (through `records.writer`), read by
`data.input_pipeline`; both go through this module, so they cannot disagree.

A prepared data set directory holds:
  <split>-SSSSS-of-NNNNN.tfrecord   sharded tf.train.Examples
                                    (split = train/validation/test)
  vocab.txt                         word vocabulary from *training* captions only
  metadata.json                     counts, class names, embedding size, ...
"""

from typing import Dict

import numpy as np

from sdn_tf.data.captioned_image import CaptionedImage

IMAGE_ENCODED = "image/encoded"  # bytes: JPEG or PNG, as on disk
IMAGE_ID = "image/id"  # bytes: CaptionedImage.example_id
IMAGE_BOX = "image/box"  # float x4: x, y, w, h in pixels; absent = none
LABEL = "label"  # int64: class index from 0
CAPTIONS = "captions"  # bytes list: every caption of the image
EMBEDDINGS = "embeddings"  # float list: [num_captions * dim], optional
# int64 list: one value index per attribute that metadata.json's
# "attributes" names, in its order; absent when the data set has none.
ATTRIBUTES = "attributes"
# bytes list: captions for evaluation only, never for training (optional).
PARAPHRASES = "paraphrases"

METADATA_FILE = "metadata.json"
VOCAB_FILE = "vocab.txt"


def shard_pattern(split: str) -> str:
  """Glob pattern matching every shard of `split`."""
  return f"{split}-*-of-*.tfrecord"


def shard_name(split: str, index: int, num_shards: int) -> str:
  return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"


def encode_example(record: CaptionedImage, image_bytes: bytes):
  """Builds the tf.train.Example of a record.

  Args:
    record: the record.
    image_bytes: the encoded image to store (`CheckedImage.data`).

  Returns:
    A `tf.train.Example`.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def bytes_feature(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

  def float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))

  feature = {
    IMAGE_ENCODED: bytes_feature([image_bytes]),
    IMAGE_ID: bytes_feature([record.example_id.encode("utf-8")]),
    LABEL: tf.train.Feature(
      int64_list=tf.train.Int64List(value=[record.label])
    ),
    CAPTIONS: bytes_feature([c.encode("utf-8") for c in record.captions]),
  }
  if record.box is not None:
    feature[IMAGE_BOX] = float_feature([float(v) for v in record.box])
  if record.attributes is not None:
    feature[ATTRIBUTES] = tf.train.Feature(
      int64_list=tf.train.Int64List(value=list(record.attributes))
    )
  if record.paraphrases:
    feature[PARAPHRASES] = bytes_feature(
      [c.encode("utf-8") for c in record.paraphrases]
    )
  if record.embeddings is not None:
    flat = np.asarray(record.embeddings, dtype=np.float32).reshape(-1)
    feature[EMBEDDINGS] = float_feature(flat.tolist())
  return tf.train.Example(features=tf.train.Features(feature=feature))


def feature_spec() -> Dict:
  """`tf.io.parse_single_example`'s spec for what `encode_example` writes."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return {
    IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
    IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
    IMAGE_BOX: tf.io.VarLenFeature(tf.float32),
    LABEL: tf.io.FixedLenFeature([], tf.int64),
    CAPTIONS: tf.io.VarLenFeature(tf.string),
    EMBEDDINGS: tf.io.VarLenFeature(tf.float32),
    ATTRIBUTES: tf.io.VarLenFeature(tf.int64),
    PARAPHRASES: tf.io.VarLenFeature(tf.string),
  }
