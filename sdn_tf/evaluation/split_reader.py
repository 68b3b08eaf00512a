"""Reads a sample of one split of a prepared data set into memory.

For evaluation: real images (cropped and resized as training sees them),
one caption per image chosen reproducibly, every paraphrase caption, the
attributes and labels. A seeded sample across the whole split, because the
shards are sorted by class.
"""

import dataclasses
from typing import Dict
from typing import List
from typing import Tuple

import numpy as np
import tensorflow as tf

from sdn_tf.data import input_pipeline
from sdn_tf.data.records import checked_reader
from sdn_tf.data.records import schema


@dataclasses.dataclass
class SplitSample:
  images: np.ndarray  # uint8 [N, R, R, 3]
  captions: List[str]  # one per image
  paraphrases: List[Tuple[str, ...]]  # per image, maybe empty
  attributes: np.ndarray  # int [N, A]
  labels: np.ndarray  # int [N]
  ids: List[str]


def _paraphrases_by_id(data_dir: str, split: str) -> Dict[str, Tuple[str, ...]]:
  spec = {
    schema.IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
    schema.PARAPHRASES: tf.io.VarLenFeature(tf.string),
  }
  found = {}
  files = checked_reader.usable_shards(
    input_pipeline.shard_files(data_dir, split)
  )
  for serialized in tf.data.TFRecordDataset(files):
    parsed = tf.io.parse_single_example(serialized, spec)
    texts = tf.sparse.to_dense(parsed[schema.PARAPHRASES]).numpy()
    if texts.size:
      found[parsed[schema.IMAGE_ID].numpy().decode()] = tuple(
        t.decode("utf-8", "replace") for t in texts
      )
  return found


def read_sample(
  data_dir: str, split: str, num_images: int, image_size: int, seed: int = 0
) -> SplitSample:
  """`num_images` images of `split` (all when fewer), chosen by `seed`."""
  dataset = input_pipeline.make_dataset(
    data_dir,
    split,
    global_batch_size=256,
    image_size=image_size,
    training=False,
    deterministic=True,
    seed=seed,
    drop_remainder=False,
  )
  parts = {k: [] for k in ("image", "caption", "attributes", "label", "id")}
  for batch in dataset:
    for key in parts:
      parts[key].append(batch[key].numpy())
  if not parts["id"]:
    raise ValueError(f"the {split} split of {data_dir} is empty")
  columns = {k: np.concatenate(v) for k, v in parts.items()}
  total = len(columns["id"])
  chosen = np.sort(
    np.random.default_rng(seed).permutation(total)[: min(num_images, total)]
  )
  paraphrases = _paraphrases_by_id(data_dir, split)
  ids = [columns["id"][i].decode() for i in chosen]
  return SplitSample(
    images=columns["image"][chosen].astype(np.uint8),
    captions=[columns["caption"][i].decode("utf-8", "replace") for i in chosen],
    paraphrases=[paraphrases.get(i, ()) for i in ids],
    attributes=columns["attributes"][chosen],
    labels=columns["label"][chosen],
    ids=ids,
  )
