"""The TFRecord format written by `tools/prepare_dataset.py`.

A prepared data set directory holds:
  <split>-SSSSS-of-NNNNN.tfrecord   sharded tf.train.Examples (split = train/test)
  vocab.txt                         word vocabulary from *training* captions only
  metadata.json                     counts, class names, embedding size, ...

Feature keys live here so that the writer and the input pipeline cannot
disagree.
"""

IMAGE_ENCODED = "image/encoded"      # bytes: JPEG or PNG, as on disk
IMAGE_ID = "image/id"                # bytes: CaptionedImage.example_id
IMAGE_BOX = "image/box"              # float x4: x, y, w, h in pixels; absent = none
LABEL = "label"                      # int64: class index from 0
CAPTIONS = "captions"                # bytes list: every caption of the image
EMBEDDINGS = "embeddings"            # float list: [num_captions * dim], optional

METADATA_FILE = "metadata.json"
VOCAB_FILE = "vocab.txt"


def shard_pattern(split: str) -> str:
  """Glob pattern matching every shard of `split`."""
  return f"{split}-*-of-*.tfrecord"


def shard_name(split: str, index: int, num_shards: int) -> str:
  return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"
