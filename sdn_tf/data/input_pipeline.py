"""The tf.data input pipeline over a prepared data set directory.

Pure functions, no flags. `make_dataset` reads the sharded TFRecords written
by `tools/prepare_dataset.py` (keys and parse spec in `sdn_tf.data.records.schema`) and
yields batches of dicts:
  "image"      float32 [B, R, R, 3], integer values in 0..255 (no scaling:
               the teacher applies its own input preprocessing)
  "caption"    string  [B], one of the image's captions
  "label"      int32   [B], class index
  "id"         string  [B], the record's example id
  "attributes" int32   [B, A], value indices of the A attributes that
               metadata.json's "attributes" names (A = 0 when it names none)
  "embedding"  float32 [B, D], the precomputed embedding of that caption;
               only when the records carry embeddings

Stages: shard files (or records) per input pipeline -> read, checking each
record (`records.checked_reader`: a bad one is skipped and counted, or fatal
under --strict) -> parse,
decode (JPEG/PNG/..., 3 channels), crop to the CUB box, resize to R x R and
keep as uint8 (4x less memory in cache and shuffle buffer) -> optional cache
-> optional one-element-per-caption expansion -> training: shuffle, repeat
-> choose a caption, optional flip, cast to float32 -> batch with
drop_remainder -> prefetch.

Randomness (shuffles, caption choice, flips) all derives from one base seed:
`seed` when given, otherwise a fresh one per call. With `deterministic=True`
(tests) the base seed defaults to 0 and tf.data keeps element order, so two
pipelines built alike yield identical batches. The caption and flip draws are
stateless functions of (base seed, position in the stream), so parallelism
can reorder but never change them.
"""

import random
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf

from sdn_tf.data.records import checked_reader
from sdn_tf.data.records import schema
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

# Memory a training pipeline's shuffle buffer may hold (uint8 images).
SHUFFLE_BUFFER_BYTES = 512 * 2**20
# The buffer when the metadata does not say how many examples there are.
DEFAULT_SHUFFLE_BUFFER = 1024
# Half-side of the CUB crop square, in units of max(box w, box h).
BOX_CROP_SCALE = 0.75


def read_metadata(data_dir: str) -> Dict:
  """Reads `metadata.json` of a prepared data set directory.

  Raises:
    FileNotFoundError: naming the missing file.
  """
  path = files.join(data_dir, schema.METADATA_FILE)
  if not files.exists(path):
    raise FileNotFoundError(
      f"no {schema.METADATA_FILE} in {data_dir}: is it a data dir "
      f"prepared by tools/prepare_dataset.py?"
    )
  return files.read_json(path)


def shard_files(data_dir: str, split: str) -> List[str]:
  """Sorted shard paths of `split`.

  Raises:
    FileNotFoundError: naming the directory and the expected pattern.
  """
  pattern = files.join(data_dir, schema.shard_pattern(split))
  shards = sorted(tf.io.gfile.glob(pattern))
  if not shards:
    raise FileNotFoundError(
      f"no TFRecord shards for split {split!r} in {data_dir}: expected "
      f"files matching {schema.shard_pattern(split)}"
    )
  return shards


def has_split(data_dir: str, split: str) -> bool:
  """Whether `data_dir` holds shards of `split` (validation may have none)."""
  try:
    return bool(shard_files(data_dir, split))
  except FileNotFoundError:
    return False


def probe_embedding_dim(shards: List[str]) -> Optional[int]:
  """Embedding size D of the first record, or None without embeddings.

  Every record of a prepared data set has embeddings or none has, so the
  first one decides the output structure (a static [B, D] shape).
  """
  first = next(
    (s for path in shards for s in checked_reader.read_shard(path)), None
  )
  if first is None:
    raise UsageError(f"the shards hold no readable records: {shards}")
  features = tf.train.Example.FromString(first).features
  embeddings = features.feature[schema.EMBEDDINGS].float_list.value
  num_captions = len(features.feature[schema.CAPTIONS].bytes_list.value)
  if not embeddings:
    return None
  if num_captions == 0 or len(embeddings) % num_captions:
    raise ValueError(
      f"{shards[0]}: {len(embeddings)} embedding values do "
      f"not split over {num_captions} captions"
    )
  return len(embeddings) // num_captions


def make_dataset(
  data_dir: str,
  split: str,
  *,
  global_batch_size: int,
  image_size: int,
  training: bool,
  flip: bool = False,
  crop_to_box: bool = True,
  all_captions: bool = False,
  deterministic: bool = False,
  seed: Optional[int] = None,
  input_context: Optional[tf.distribute.InputContext] = None,
  cache: bool = False,
  shuffle_buffer_size: Optional[int] = None,
  drop_remainder: bool = True,
  positions: Optional[Sequence[int]] = None,
) -> tf.data.Dataset:
  """Builds the batched dataset of one split of a prepared data dir.

  Args:
    data_dir: the prepared data set directory.
    split: "train", "validation" or "test".
    global_batch_size: batch size over all replicas; each pipeline yields
      `input_context.get_per_replica_batch_size(global_batch_size)`.
    image_size: R, the side of the square output images.
    training: shuffle and repeat forever (and allow `flip`).
    flip: random horizontal flips when training. Off by default, and it must
      stay off for data whose captions say "left"/"right" (the built-in
      shapes), or the flipped image contradicts its caption.
    crop_to_box: crop records that carry a box (CUB) to the square of
      half-side 0.75 * max(w, h) around its centre, clipped to the image;
      clipping near an edge can leave a non-square crop, which is then
      stretched to R x R (as StackGAN does).
    all_captions: one element per (image, caption) pair instead of one
      random caption per image, e.g. for evaluation over every caption.
    deterministic: fixed element order and seeds (base seed 0 unless
      `seed` is given), for tests.
    seed: base seed of every random choice; None draws a fresh one.
    input_context: from `distribute_datasets_from_function`; the pipeline
      then reads only its share of the shards (or of the records, when there
      are fewer shards than pipelines).
    cache: keep the decoded, resized uint8 images in memory after the first
      pass (N * R * R * 3 bytes). The shard order of that pass is then kept;
      the element shuffle still changes every epoch.
    shuffle_buffer_size: elements in the training shuffle buffer; None
      sizes it by memory (`shuffle_buffer_for`): the whole split when its
      decoded images fit in `SHUFFLE_BUFFER_BYTES`.
    drop_remainder: drop the last partial batch (static batch dimension).
      Keep it True for training; evaluation may turn it off to see every
      example.
    positions: only the records at these positions of the split's read
      order (0-based, not training), in that order; the others are skipped
      before they are decoded, and reading stops after the last one.

  Returns:
    A `tf.data.Dataset` of dicts, see the module docstring.
  """
  shards = shard_files(data_dir, split)
  embedding_dim = probe_embedding_dim(shards)
  batch_size = global_batch_size
  if input_context is not None:
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
  base_seed = _base_seed(seed, deterministic)

  dataset = _read_records(shards, training, base_seed, input_context)
  if positions is not None:
    if training:
      raise ValueError("positions are for reading a split once, in order")
    dataset = _at_positions(dataset, positions)
  dataset = dataset.map(
    lambda s: _decode_example(s, image_size, embedding_dim, crop_to_box),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  if cache:
    dataset = dataset.cache()
  if all_captions:
    dataset = dataset.flat_map(_one_element_per_caption)
  if training:
    if shuffle_buffer_size is None:
      shuffle_buffer_size = shuffle_buffer_for(
        data_dir, split, image_size, input_context
      )
    dataset = dataset.shuffle(
      shuffle_buffer_size, seed=base_seed, reshuffle_each_iteration=True
    ).repeat()
  dataset = dataset.enumerate().map(
    lambda index, example: _finish_example(
      example,
      index,
      base_seed,
      choose_caption=not all_captions,
      flip=flip and training,
    ),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  dataset = dataset.prefetch(tf.data.AUTOTUNE)
  return dataset.with_options(_options(deterministic, input_context))


def count_examples(data_dir: str, split: str) -> int:
  """Examples of `split` as metadata.json counts them; 0 when unknown
  (no metadata.json, as for records written by other tools)."""
  try:
    counts = read_metadata(data_dir).get("num_examples", {})
  except FileNotFoundError:
    return 0
  return int(counts.get(split, 0)) if isinstance(counts, dict) else 0


def training_classes(metadata: Dict) -> List[int]:
  """Labels of the training classes: the validation images are theirs too
  (held out of training, not of its classes)."""
  per_split = metadata.get("labels_per_split", {})
  return sorted(
    set(per_split.get("train", [])) | set(per_split.get("validation", []))
  )


def shuffle_buffer_for(
  data_dir: str,
  split: str,
  image_size: int,
  input_context: Optional[tf.distribute.InputContext] = None,
  budget_bytes: Optional[int] = None,
) -> int:
  """Shuffle buffer elements: this pipeline's whole share of the split when
  its decoded images fit in `budget_bytes`, else as many as fit.

  Converters write records in their loader's order, which is class by class
  for every layout, so a buffer much smaller than the split feeds training a
  few classes at a time.
  """
  budget = SHUFFLE_BUFFER_BYTES if budget_bytes is None else budget_bytes
  num_examples = count_examples(data_dir, split)
  if input_context is not None:
    num_examples = -(-num_examples // input_context.num_input_pipelines)
  fits = max(budget // (image_size * image_size * 3), 1)
  if not num_examples:
    return min(fits, DEFAULT_SHUFFLE_BUFFER)
  return max(min(num_examples, fits), 1)


def _base_seed(seed: Optional[int], deterministic: bool) -> int:
  if seed is not None:
    return int(seed)
  if deterministic:
    return 0
  return random.SystemRandom().randrange(2**31)


def _read_records(
  shards: List[str],
  training: bool,
  base_seed: int,
  input_context: Optional[tf.distribute.InputContext],
) -> tf.data.Dataset:
  """Serialized records of this pipeline's share of the shards."""
  num_pipelines = input_context.num_input_pipelines if input_context else 1
  pipeline_id = input_context.input_pipeline_id if input_context else 0
  shard_by_file = len(shards) >= num_pipelines
  if shard_by_file:
    shards = shards[pipeline_id::num_pipelines]
  dataset = tf.data.Dataset.from_tensor_slices(
    checked_reader.usable_shards(shards)
  )
  if training:
    dataset = dataset.shuffle(
      len(shards), seed=base_seed, reshuffle_each_iteration=True
    )
  dataset = dataset.interleave(
    tf.data.TFRecordDataset,
    cycle_length=min(len(shards), 8),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  if not shard_by_file:
    dataset = dataset.shard(num_pipelines, pipeline_id)
  return dataset


def _at_positions(
  dataset: tf.data.Dataset, positions: Sequence[int]
) -> tf.data.Dataset:
  """The elements of `dataset` at `positions`, undecoded and in order."""
  if not positions:
    return dataset.take(0)
  wanted = np.zeros(max(positions) + 1, dtype=bool)
  wanted[list(positions)] = True
  wanted = tf.constant(wanted)
  return (
    dataset.take(len(wanted))
    .enumerate()
    .filter(lambda index, _: wanted[index])
    .map(lambda _, serialized: serialized)
  )


def _decode_example(
  serialized: tf.Tensor,
  image_size: int,
  embedding_dim: Optional[int],
  crop_to_box: bool,
) -> Dict[str, tf.Tensor]:
  """Parses one record; image cropped and resized, all captions kept."""
  features = tf.io.parse_single_example(serialized, schema.feature_spec())
  captions = tf.sparse.to_dense(features[schema.CAPTIONS])
  tf.debugging.assert_positive(
    tf.size(captions), message="a record has no captions"
  )
  image = tf.io.decode_image(
    features[schema.IMAGE_ENCODED], channels=3, expand_animations=False
  )
  image.set_shape([None, None, 3])
  if crop_to_box:
    box = tf.sparse.to_dense(features[schema.IMAGE_BOX])
    image = crop_to_cub_box(image, box)
  example = {
    "image": _resize_uint8(image, image_size),
    "captions": captions,
    "label": tf.cast(features[schema.LABEL], tf.int32),
    "id": features[schema.IMAGE_ID],
    "attributes": tf.cast(
      tf.sparse.to_dense(features[schema.ATTRIBUTES]), tf.int32
    ),
  }
  if embedding_dim is not None:
    embeddings = tf.sparse.to_dense(features[schema.EMBEDDINGS])
    example["embeddings"] = tf.reshape(embeddings, [-1, embedding_dim])
  return example


def crop_to_cub_box(image: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
  """Crops to the square of half-side 0.75 * max(w, h) around the box centre.

  The square is clipped to the image. Integer rounding follows StackGAN's
  preprocessing (floor of centre and half-side). Without a box (`box` of
  size 0) or with a box that misses the image, the image is returned whole.

  Args:
    image: [H, W, C] image.
    box: float [4] (x, y, w, h) in pixels, or an empty vector.

  Returns:
    The cropped image, [h, w, C].
  """
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  has_box = tf.equal(tf.size(box), 4)
  padded = tf.ensure_shape(tf.concat([box, tf.zeros([4])], axis=0)[:4], [4])
  x, y, w, h = tf.unstack(padded)
  half = tf.cast(tf.floor(BOX_CROP_SCALE * tf.maximum(w, h)), tf.int32)
  centre_x = tf.cast(tf.floor(x + w / 2), tf.int32)
  centre_y = tf.cast(tf.floor(y + h / 2), tf.int32)
  x1, x2 = tf.maximum(0, centre_x - half), tf.minimum(width, centre_x + half)
  y1, y2 = tf.maximum(0, centre_y - half), tf.minimum(height, centre_y + half)
  use_box = has_box & (x2 > x1) & (y2 > y1)
  x1, x2 = tf.where(use_box, x1, 0), tf.where(use_box, x2, width)
  y1, y2 = tf.where(use_box, y1, 0), tf.where(use_box, y2, height)
  return image[y1:y2, x1:x2]


def _resize_uint8(image: tf.Tensor, image_size: int) -> tf.Tensor:
  """Bilinear (antialiased) resize to R x R, rounded back to uint8."""
  image = tf.image.resize(image, [image_size, image_size], antialias=True)
  image = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
  return tf.ensure_shape(image, [image_size, image_size, 3])


def _one_element_per_caption(example: Dict[str, tf.Tensor]) -> tf.data.Dataset:
  """Expands an image into one element per caption (and embedding row)."""
  num = tf.size(example["captions"])
  per_caption = {k: v for k, v in example.items() if k != "embeddings"}
  per_caption = {
    k: tf.repeat(v[tf.newaxis], num, axis=0) if k != "captions" else v
    for k, v in per_caption.items()
  }
  if "embeddings" in example:
    per_caption["embeddings"] = example["embeddings"]
  return tf.data.Dataset.from_tensor_slices(per_caption)


def _finish_example(
  example: Dict[str, tf.Tensor],
  index: tf.Tensor,
  base_seed: int,
  choose_caption: bool,
  flip: bool,
) -> Dict[str, tf.Tensor]:
  """Picks the caption, maybe flips, and casts the image to float32."""
  seed = tf.stack([tf.constant(base_seed, tf.int64), index])
  caption_seed, flip_seed = tf.unstack(
    tf.random.experimental.stateless_split(seed, num=2)
  )
  image = example["image"]
  if flip:
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
  out = {
    "image": tf.cast(image, tf.float32),
    "label": example["label"],
    "id": example["id"],
    "attributes": example["attributes"],
  }
  if choose_caption:
    choice = tf.random.stateless_uniform(
      [],
      caption_seed,
      minval=0,
      maxval=tf.size(example["captions"]),
      dtype=tf.int32,
    )
    out["caption"] = example["captions"][choice]
    if "embeddings" in example:
      out["embedding"] = example["embeddings"][choice]
  else:
    out["caption"] = example["captions"]
    if "embeddings" in example:
      out["embedding"] = example["embeddings"]
  return out


def _options(
  deterministic: bool, input_context: Optional[tf.distribute.InputContext]
) -> tf.data.Options:
  options = tf.data.Options()
  options.deterministic = deterministic
  if input_context is not None:
    # Already sharded per input pipeline; tf.distribute must not re-shard.
    options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.OFF
    )
  return options
