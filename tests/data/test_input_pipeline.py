"""Tests for sdn_tf.data.input_pipeline on tiny TFRecords written here."""

import io
import json

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from sdn_tf.data import input_pipeline
from sdn_tf.data.records import schema
from sdn_tf.utils.errors import UsageError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
SIZE = 8  # output side R
NUM_PLAIN = 7
NOISE = np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8)
NOISE_BOX = (29.0, 1.0, 9.0, 13.0)  # a crop clipped on two sides


def _encode(pixels: np.ndarray, fmt: str) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format=fmt)
  return buffer.getvalue()


def _solid(height, width, colour):
  return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def _half_and_half(height=16, width=20):
  """Left half red, right half blue: shows whether an image was flipped."""
  pixels = _solid(height, width, BLUE)
  pixels[:, : width // 2] = RED
  return pixels


def _box_image(height, width, box, colour):
  """Blue image whose CUB crop square for `box` is painted `colour`."""
  x, y, w, h = box
  half = int(0.75 * max(w, h))
  cx, cy = int(x + w / 2), int(y + h / 2)
  pixels = _solid(height, width, BLUE)
  pixels[
    max(0, cy - half) : min(height, cy + half),
    max(0, cx - half) : min(width, cx + half),
  ] = colour
  return pixels


def _example(example_id, label, captions, encoded, box=None, embeddings=None):
  feature = {
    schema.IMAGE_ENCODED: _bytes([encoded]),
    schema.IMAGE_ID: _bytes([example_id.encode()]),
    schema.LABEL: tf.train.Feature(
      int64_list=tf.train.Int64List(value=[label])
    ),
    schema.CAPTIONS: _bytes([c.encode() for c in captions]),
  }
  if box is not None:
    feature[schema.IMAGE_BOX] = _floats(box)
  if embeddings is not None:
    feature[schema.EMBEDDINGS] = _floats(np.ravel(embeddings))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _floats(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _write_shards(directory, split, shards):
  for index, examples in enumerate(shards):
    path = directory / schema.shard_name(split, index, len(shards))
    with tf.io.TFRecordWriter(str(path)) as writer:
      for example in examples:
        writer.write(example.SerializeToString())


def _captions(example_id, count=3):
  return [f"{example_id} caption {i}" for i in range(count)]


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory):
  """Two shards, six images: PNG and JPEG, two with boxes, no embeddings."""
  directory = tmp_path_factory.mktemp("plain")
  halves = _half_and_half()
  examples = [
    _example(
      f"img{i}",
      i % 2,
      _captions(f"img{i}"),
      _encode(halves, "PNG" if i % 2 else "JPEG"),
    )
    for i in range(4)
  ]
  examples.append(
    _example(
      "boxed",
      0,
      _captions("boxed"),
      _encode(_box_image(40, 48, (20, 12, 8, 6), RED), "PNG"),
      box=(20, 12, 8, 6),
    )
  )
  examples.append(
    _example(  # square clipped at the top-left corner
      "corner",
      1,
      _captions("corner"),
      _encode(_box_image(30, 30, (0, 1, 10, 4), GREEN), "PNG"),
      box=(0, 1, 10, 4),
    )
  )
  examples.append(
    _example(
      "noise", 0, _captions("noise"), _encode(NOISE, "PNG"), box=NOISE_BOX
    )
  )
  _write_shards(directory, "train", [examples[0::2], examples[1::2]])
  (directory / schema.METADATA_FILE).write_text('{"num_train": 7}')
  return directory


@pytest.fixture(scope="module")
def embedding_dir(tmp_path_factory):
  """One shard of two images with 4 captions and 4 x 5 embeddings each."""
  directory = tmp_path_factory.mktemp("embedded")
  examples = []
  for k in range(2):
    example_id = f"emb{k}"
    rows = np.array([np.full(5, 10 * k + i) for i in range(4)], np.float32)
    examples.append(
      _example(
        example_id,
        k,
        _captions(example_id, 4),
        _encode(_solid(12, 12, GREEN), "PNG"),
        embeddings=rows,
      )
    )
  _write_shards(directory, "train", [examples])
  return directory


def _take(dataset, count):
  return [
    {k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)
  ]


def _dataset(data_dir, **kwargs):
  args = dict(
    global_batch_size=2, image_size=SIZE, training=False, deterministic=True
  )
  args.update(kwargs)
  return input_pipeline.make_dataset(str(data_dir), "train", **args)


def test_shapes_dtypes_and_ranges(plain_dir):
  batches = _take(_dataset(plain_dir, global_batch_size=4, training=True), 3)
  for batch in batches:
    assert batch["image"].shape == (4, SIZE, SIZE, 3)
    assert batch["image"].dtype == np.float32
    assert 0 <= batch["image"].min() and batch["image"].max() <= 255
    assert batch["image"].max() > 1  # 0..255, not 0..1
    assert batch["caption"].shape == (4,) and batch["caption"].dtype == object
    assert batch["label"].dtype == np.int32 and batch["id"].shape == (4,)
    assert batch["attributes"].shape == (4, 0)  # none in these records
    assert "embedding" not in batch


def test_caption_is_one_of_the_images_captions(plain_dir):
  for batch in _take(_dataset(plain_dir, training=True), 6):
    for example_id, caption in zip(batch["id"], batch["caption"]):
      assert caption.decode() in _captions(example_id.decode())


def _images_by_id(dataset):
  return {
    example_id.decode(): image
    for batch in _take(dataset, 100)
    for example_id, image in zip(batch["id"], batch["image"])
  }


def test_box_crop_fills_the_output(plain_dir):
  images = _images_by_id(_dataset(plain_dir, drop_remainder=False))
  np.testing.assert_array_equal(
    images["boxed"], np.broadcast_to(RED, (SIZE, SIZE, 3))
  )
  np.testing.assert_array_equal(
    images["corner"], np.broadcast_to(GREEN, (SIZE, SIZE, 3))
  )
  uncropped = _images_by_id(
    _dataset(plain_dir, drop_remainder=False, crop_to_box=False)
  )
  assert uncropped["boxed"][..., 2].max() == 255  # blue surroundings are back


def test_box_crop_takes_the_exact_window(plain_dir):
  images = _images_by_id(_dataset(plain_dir, drop_remainder=False))
  # Centre floor(33.5, 7.5) = (33, 7), half-side floor(0.75 * 13) = 9:
  # x 24..42, y -2..16, clipped to the 40 x 30 image.
  window = NOISE[0:16, 24:40]
  expected = tf.image.resize(window, [SIZE, SIZE], antialias=True)
  expected = np.round(np.clip(expected.numpy(), 0, 255))
  np.testing.assert_array_equal(images["noise"], expected)


def test_flip_is_off_by_default(plain_dir):
  for batch in _take(_dataset(plain_dir, training=True), 6):
    for example_id, image in zip(batch["id"], batch["image"]):
      if example_id.startswith(b"img"):
        assert image[:, 0, 0].min() > 200 and image[:, -1, 2].min() > 200


def test_flip_when_asked(plain_dir):
  flipped = 0
  for batch in _take(_dataset(plain_dir, training=True, flip=True), 12):
    for example_id, image in zip(batch["id"], batch["image"]):
      if example_id.startswith(b"img"):
        flipped += int(image[:, 0, 2].min() > 200)
  assert flipped > 0


def test_drop_remainder_gives_static_full_batches(plain_dir):
  dataset = _dataset(plain_dir, global_batch_size=4)
  assert dataset.element_spec["image"].shape[0] == 4
  assert [b["id"].shape[0] for b in _take(dataset, 10)] == [4]


def test_deterministic_mode_repeats_itself(plain_dir):
  def run(seed):
    return [
      (b["id"].tolist(), b["caption"].tolist())
      for b in _take(
        _dataset(plain_dir, training=True, flip=True, seed=seed), 8
      )
    ]

  assert run(3) == run(3)
  assert run(3) != run(4)


def test_embedding_matches_the_chosen_caption(embedding_dir):
  dataset = _dataset(embedding_dir, training=True)
  assert dataset.element_spec["embedding"].shape == (2, 5)
  for batch in _take(dataset, 6):
    for example_id, caption, row in zip(
      batch["id"], batch["caption"], batch["embedding"]
    ):
      k = int(example_id.decode()[-1])
      i = int(caption.decode().split()[-1])
      np.testing.assert_array_equal(row, np.full(5, 10 * k + i))


def test_all_captions_yields_every_pair(embedding_dir):
  dataset = _dataset(embedding_dir, all_captions=True, global_batch_size=1)
  pairs = [
    (b["caption"][0].decode(), float(b["embedding"][0, 0]))
    for b in _take(dataset, 100)
  ]
  assert len(pairs) == 8
  assert pairs[5] == ("emb1 caption 1", 11.0)


def test_positions_read_only_those_records_in_order(plain_dir):
  def ids(**kwargs):
    dataset = _dataset(plain_dir, global_batch_size=1, **kwargs)
    return [b["id"][0] for b in _take(dataset, 100)]

  every = ids()
  assert len(every) == NUM_PLAIN
  assert ids(positions=[1, 4, 5]) == [every[1], every[4], every[5]]
  assert ids(positions=[NUM_PLAIN - 1]) == [every[-1]]
  assert ids(positions=[]) == []
  with pytest.raises(ValueError, match="positions"):
    _dataset(plain_dir, training=True, positions=[0])


@pytest.mark.parametrize(
  "dir_name,num_examples",
  [
    ("plain_dir", NUM_PLAIN),  # 2 shards: each pipeline reads one file
    ("embedding_dir", 2),  # 1 shard: pipelines split the records
  ],
)
def test_input_context_shards_disjointly(dir_name, num_examples, request):
  data_dir = request.getfixturevalue(dir_name)
  seen = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(
      num_input_pipelines=2,
      input_pipeline_id=pipeline_id,
      num_replicas_in_sync=2,
    )
    dataset = _dataset(
      data_dir, global_batch_size=2, input_context=context, drop_remainder=False
    )
    batches = _take(dataset, 100)
    assert {len(b["id"]) for b in batches} == {1}  # per replica: 2 / 2
    seen.append({i for b in batches for i in b["id"].tolist()})
  assert not seen[0] & seen[1]
  assert len(seen[0] | seen[1]) == num_examples


def test_missing_shards_error_names_dir_and_pattern(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    _dataset(tmp_path)
  assert str(tmp_path) in str(error.value)
  assert schema.shard_pattern("train") in str(error.value)


def test_a_split_of_empty_shards_is_a_usage_error_naming_them(tmp_path):
  # A conversion cut short can leave shards with no records; the error is
  # the user's to fix, one line naming the files, not a crash downstream.
  empty = tmp_path / schema.shard_name("train", 0, 1)
  with tf.io.TFRecordWriter(str(empty)):
    pass
  with pytest.raises(UsageError, match="hold no readable records") as error:
    _dataset(tmp_path)
  assert str(empty) in str(error.value)


def test_read_metadata(plain_dir, tmp_path):
  assert input_pipeline.read_metadata(str(plain_dir)) == {"num_train": 7}
  with pytest.raises(FileNotFoundError, match=schema.METADATA_FILE):
    input_pipeline.read_metadata(str(tmp_path))


def test_cache_keeps_the_first_epoch(plain_dir):
  # Later epochs differ: the cache freezes the shard order of the first one.
  def run(cache):
    dataset = _dataset(plain_dir, training=True, cache=cache)
    return [
      (b["id"].tolist(), b["caption"].tolist(), b["image"].sum())
      for b in _take(dataset, NUM_PLAIN // 2)
    ]

  assert run(cache=True) == run(cache=False)


@pytest.fixture(scope="module")
def class_sorted_dir(tmp_path_factory):
  """2,000 tiny images written class by class (20 classes of 100), in ten
  shards, as the converters write every layout."""
  directory = tmp_path_factory.mktemp("class_sorted")
  pixel = _encode(_solid(4, 4, RED), "PNG")
  examples = [
    _example(f"c{label}_{i}", label, _captions(f"c{label}_{i}", 1), pixel)
    for label in range(20)
    for i in range(100)
  ]
  _write_shards(directory, "train", [examples[i::10] for i in range(10)])
  metadata = {"num_examples": {"train": len(examples)}}
  (directory / schema.METADATA_FILE).write_text(json.dumps(metadata))
  return directory


def test_shuffle_buffer_holds_the_split_when_it_fits(class_sorted_dir):
  size = input_pipeline.shuffle_buffer_for(str(class_sorted_dir), "train", 8)
  assert size == 2000
  small = input_pipeline.shuffle_buffer_for(
    str(class_sorted_dir), "train", 8, budget_bytes=8 * 8 * 3 * 150
  )
  assert small == 150
  context = tf.distribute.InputContext(num_input_pipelines=3)
  shared = input_pipeline.shuffle_buffer_for(
    str(class_sorted_dir), "train", 8, context
  )
  assert shared == 667


def test_first_batches_of_class_sorted_records_span_the_classes(
  class_sorted_dir,
):
  dataset = input_pipeline.make_dataset(
    str(class_sorted_dir),
    "train",
    global_batch_size=16,
    image_size=8,
    training=True,
    seed=0,
  )
  labels = np.concatenate([b["label"] for b in _take(dataset, 8)])
  # 128 draws from 20 equally likely classes miss almost none of them; a
  # 1024-image buffer over these shards showed about half.
  assert len(set(labels.tolist())) >= 18
