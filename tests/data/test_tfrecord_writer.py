"""Tests for the TFRecord converter: round trip, vocabulary, metadata,
skip-and-count, strict mode, sharding and crash safety.

Records are built directly (tiny 24 x 24 images) so that these tests do not
depend on any loader.
"""

import glob
import io
import json
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.data.records import schema
from sdn_tf.data.records import writer
from sdn_tf.text import vocab as vocab_lib

CLASS_NAMES = ("001.red", "002.blue", "003.green")
FEATURES = {
  schema.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
  schema.IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
  schema.LABEL: tf.io.FixedLenFeature([], tf.int64),
  schema.CAPTIONS: tf.io.VarLenFeature(tf.string),
  schema.IMAGE_BOX: tf.io.VarLenFeature(tf.float32),
  schema.EMBEDDINGS: tf.io.VarLenFeature(tf.float32),
  schema.ATTRIBUTES: tf.io.VarLenFeature(tf.int64),
  schema.PARAPHRASES: tf.io.VarLenFeature(tf.string),
}


def encode(fmt="PNG", seed=0, mode="RGB"):
  pixels = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
  return buffer.getvalue()


def save(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data)
  return str(path)


def record(i, split="train", label=0, captions=None, **kwargs):
  if "image_path" not in kwargs and "image_bytes" not in kwargs:
    kwargs["image_bytes"] = encode(seed=i)
  return CaptionedImage(
    example_id=f"img{i}",
    captions=captions or (f"caption of image {i}",),
    label=label,
    class_name=CLASS_NAMES[label],
    split=split,
    **kwargs,
  )


def write(items, out_dir, **options):
  return writer.write_dataset(
    items,
    str(out_dir),
    dataset_name="test",
    data_dir="/src",
    class_names=CLASS_NAMES,
    options=writer.WriterOptions(**options),
  )


def read_split(out_dir, split):
  files = sorted(
    glob.glob(os.path.join(str(out_dir), schema.shard_pattern(split)))
  )
  examples = []
  for serialized in tf.data.TFRecordDataset(files):
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    examples.append(
      {
        "image": parsed[schema.IMAGE_ENCODED].numpy(),
        "id": parsed[schema.IMAGE_ID].numpy().decode(),
        "label": int(parsed[schema.LABEL]),
        "captions": [
          c.decode()
          for c in tf.sparse.to_dense(parsed[schema.CAPTIONS]).numpy()
        ],
        "box": tf.sparse.to_dense(parsed[schema.IMAGE_BOX]).numpy().tolist(),
        "embeddings": tf.sparse.to_dense(parsed[schema.EMBEDDINGS]).numpy(),
        "attributes": tf.sparse.to_dense(parsed[schema.ATTRIBUTES])
        .numpy()
        .tolist(),
        "paraphrases": [
          c.decode()
          for c in tf.sparse.to_dense(parsed[schema.PARAPHRASES]).numpy()
        ],
      }
    )
  return examples


def read_metadata(out_dir):
  with open(os.path.join(str(out_dir), schema.METADATA_FILE)) as f:
    return json.load(f)


def test_validation_split_is_a_stable_hashed_share_of_training(tmp_path):
  items = [record(i, label=i % 2, captions=(f"word{i}",)) for i in range(60)]
  items.append(record(99, split="test", label=2))
  summary = write(items, tmp_path / "a", validation_fraction=0.25)
  validation = read_split(tmp_path / "a", "validation")
  train = read_split(tmp_path / "a", "train")
  assert 5 <= len(validation) <= 25
  assert len(validation) + len(train) == 60
  assert summary.num_examples["test"] == 1
  # The same ids, whatever the order the loader gives them in.
  write(items[::-1], tmp_path / "b", validation_fraction=0.25)
  assert sorted(e["id"] for e in read_split(tmp_path / "b", "validation")) == (
    sorted(e["id"] for e in validation)
  )
  # Validation captions stay out of the vocabulary, like test captions.
  tokens = vocab_lib.read_vocabulary(str(tmp_path / "a" / schema.VOCAB_FILE))
  assert validation[0]["captions"][0] not in tokens
  assert train[0]["captions"][0] in tokens
  meta = read_metadata(tmp_path / "a")
  assert "0.25 of the training images" in meta["validation_rule"]
  assert set(meta["labels_per_split"]["validation"]) <= {0, 1}


def test_paraphrases_only_in_evaluation_splits(tmp_path):
  items = [
    record(i, paraphrases=(f"said otherwise {i}",)) for i in range(40)
  ] + [record(99, split="test", paraphrases=("said otherwise 99",))]
  write(items, tmp_path, validation_fraction=0.25)
  validation = read_split(tmp_path, "validation")
  assert validation
  for example in validation + read_split(tmp_path, "test"):
    assert example["paraphrases"] == [f"said otherwise {example['id'][3:]}"]
  # Training never reads them, and the vocabulary does not know them.
  assert all(not e["paraphrases"] for e in read_split(tmp_path, "train"))
  tokens = vocab_lib.read_vocabulary(str(tmp_path / schema.VOCAB_FILE))
  assert "otherwise" not in tokens


def test_validation_fraction_out_of_range_is_refused(tmp_path):
  with pytest.raises(common.DatasetError, match="--validation_fraction=1"):
    write([record(0)], tmp_path / "out", validation_fraction=1.0)


def test_attributes_round_trip_with_their_tables(tmp_path):
  items = [record(0, attributes=(2, 0)), record(1, attributes=(1, 1))]
  writer.write_dataset(
    items,
    str(tmp_path / "out"),
    dataset_name="test",
    data_dir="/src",
    class_names=CLASS_NAMES,
    options=writer.WriterOptions(validation_fraction=0.0),
    attributes={"shape": ("a", "b", "c"), "size": ("small", "large")},
  )
  train = read_split(tmp_path / "out", "train")
  assert [e["attributes"] for e in train] == [[2, 0], [1, 1]]
  assert read_metadata(tmp_path / "out")["attributes"] == {
    "shape": ["a", "b", "c"],
    "size": ["small", "large"],
  }


def test_round_trip_bytes_captions_labels_boxes_embeddings(tmp_path):
  jpeg = encode("JPEG", seed=1)
  path = save(tmp_path / "src" / "b.jpg", jpeg)
  embeddings = np.arange(4, dtype=np.float32).reshape(2, 2)
  captions = ("a red bird", "it is small")
  items = [
    record(0, captions=captions, box=(1, 2, 3.5, 4), embeddings=embeddings),
    record(
      1, label=1, captions=captions, image_path=path, embeddings=embeddings + 1
    ),
    record(
      2, split="test", label=2, captions=captions, embeddings=embeddings + 2
    ),
  ]
  summary = write(items, tmp_path / "out")
  train = read_split(tmp_path / "out", "train")
  assert [e["id"] for e in train] == ["img0", "img1"]
  assert train[0]["image"] == items[0].image_bytes
  assert train[1]["image"] == jpeg  # as on disk
  assert train[0]["captions"] == ["a red bird", "it is small"]
  assert [e["label"] for e in train] == [0, 1]
  assert train[0]["box"] == [1.0, 2.0, 3.5, 4.0]
  assert train[1]["box"] == []
  np.testing.assert_array_equal(
    train[1]["embeddings"], (embeddings + 1).reshape(-1)
  )
  test = read_split(tmp_path / "out", "test")
  assert [(e["id"], e["label"]) for e in test] == [("img2", 2)]
  assert summary.num_examples == {"train": 2, "validation": 0, "test": 1}


def test_vocabulary_comes_from_training_captions_only(tmp_path):
  items = [
    record(0, captions=("a red bird",)),
    record(1, captions=("a red wing",)),
    record(2, split="test", captions=("a zebra bird",)),
  ]
  summary = write(items, tmp_path / "out")
  tokens = vocab_lib.read_vocabulary(
    os.path.join(str(tmp_path / "out"), schema.VOCAB_FILE)
  )
  assert tokens[0] == vocab_lib.PAD_TOKEN
  assert {"a", "red", "bird", "wing"} <= set(tokens)
  assert "zebra" not in tokens
  assert summary.vocab_size == len(tokens)
  write(items, tmp_path / "out2", vocab_min_count=2)
  assert vocab_lib.read_vocabulary(
    os.path.join(str(tmp_path / "out2"), schema.VOCAB_FILE)
  ) == ["<pad>", "a", "red"]


def test_metadata_describes_the_data_set(tmp_path):
  items = [
    record(0, embeddings=np.zeros((1, 4), np.float32), box=(0, 0, 1, 1)),
    record(1, label=1, embeddings=np.ones((1, 4), np.float32)),
    record(
      2,
      split="test",
      label=2,
      captions=("x", "y"),
      embeddings=np.ones((2, 4), np.float32),
    ),
    common.DataIssue(common.MISSING_CAPTION_FILE, "/src/gone.txt"),
    common.DataIssue(
      common.CAPTION_NOT_UTF8, "/src/l1.txt", skips_example=False
    ),
  ]
  write(items, tmp_path / "out", examples_per_shard=1)
  meta = read_metadata(tmp_path / "out")
  assert meta["dataset"] == "test" and meta["data_dir"] == "/src"
  assert meta["num_examples"] == {"train": 2, "validation": 0, "test": 1}
  assert meta["num_shards"] == {"train": 2, "validation": 0, "test": 1}
  assert meta["shard_files"]["train"] == [
    "train-00000-of-00002.tfrecord",
    "train-00001-of-00002.tfrecord",
  ]
  assert meta["num_classes"] == 3
  assert meta["class_names"] == list(CLASS_NAMES)
  assert meta["labels_per_split"] == {
    "train": [0, 1],
    "validation": [],
    "test": [2],
  }
  assert meta["captions_per_image"] is None
  assert (meta["min_captions_per_image"], meta["max_captions_per_image"]) == (
    1,
    2,
  )
  assert meta["embedding_dim"] == 4
  assert meta["num_with_box"] == 1
  assert meta["skipped"] == {"missing_caption_file": 1}
  assert meta["num_skipped"] == 1
  assert meta["warnings"] == {"caption_not_utf8": 1}
  assert meta["options"]["examples_per_shard"] == 1
  assert meta["options"]["strict"] is False
  assert meta["image_formats"] == {"png": 3}


def test_bad_images_are_skipped_and_counted(tmp_path):
  truncated = encode("JPEG", seed=3)[:200]
  items = [
    record(0),
    record(1, image_path=save(tmp_path / "src" / "junk.jpg", b"not image")),
    record(2, image_path=save(tmp_path / "src" / "cut.jpg", truncated)),
    record(3, image_path=str(tmp_path / "src" / "missing.jpg")),
    record(0),  # the same id again
    common.DataIssue(common.EMPTY_CAPTION_FILE, "/src/e.txt"),
  ]
  summary = write(items, tmp_path / "out")
  assert summary.num_examples == {"train": 1, "validation": 0, "test": 0}
  assert summary.num_shards == {"train": 1, "validation": 0, "test": 0}
  assert summary.skipped == {
    "corrupt_image": 2,
    "unreadable_image": 1,
    "duplicate_id": 1,
    "empty_caption_file": 1,
  }
  assert read_metadata(tmp_path / "out")["num_skipped"] == 5


@pytest.mark.parametrize(
  "item,named",
  [
    (
      common.DataIssue(common.MISSING_CAPTION_FILE, "/src/a/b.txt"),
      "/src/a/b.txt",
    ),
    ("corrupt", "junk.jpg"),
  ],
)
def test_strict_mode_fails_naming_the_file(tmp_path, item, named):
  if item == "corrupt":
    item = record(1, image_path=save(tmp_path / "junk.jpg", b"\xff\xd8junk"))
  with pytest.raises(common.BadExampleError, match=named) as e:
    write([record(0), item], tmp_path / "out", strict=True)
  assert "--strict" in str(e.value)
  assert not os.path.exists(tmp_path / "out")
  assert not [p for p in os.listdir(tmp_path) if ".partial" in p]


def test_warnings_are_never_fatal(tmp_path):
  issue = common.DataIssue(
    common.CAPTION_NOT_UTF8, "/src/x.txt", skips_example=False
  )
  summary = write([issue, record(0)], tmp_path / "out", strict=True)
  assert summary.warnings == {"caption_not_utf8": 1}


def test_other_formats_are_reencoded_to_png(tmp_path):
  bmp = encode("BMP", seed=5)
  items = [
    record(0, image_path=save(tmp_path / "a.bmp", bmp)),
    record(1, image_path=save(tmp_path / "b.webp", encode("WEBP", seed=6))),
    record(2, image_bytes=encode("JPEG", seed=7, mode="CMYK")),
  ]
  write(items, tmp_path / "out")
  stored = read_split(tmp_path / "out", "train")
  assert all(
    Image.open(io.BytesIO(e["image"])).format in ("PNG", "JPEG") for e in stored
  )
  assert Image.open(io.BytesIO(stored[0]["image"])).format == "PNG"
  np.testing.assert_array_equal(
    tf.io.decode_png(stored[0]["image"]).numpy(),
    np.asarray(Image.open(io.BytesIO(bmp))),
  )
  # A CMYK JPEG is kept as is: TensorFlow's decoder reads it.
  assert stored[2]["image"] == items[2].image_bytes
  assert tf.io.decode_image(stored[2]["image"], channels=3).shape == (24, 24, 3)
  meta = read_metadata(tmp_path / "out")
  assert meta["num_reencoded_to_png"] == 2
  assert meta["image_formats"] == {"png": 2, "jpeg": 1}


def test_sharding_by_count_and_fixed_number(tmp_path):
  items = [record(i) for i in range(5)]
  summary = write(items, tmp_path / "a", examples_per_shard=2)
  names = sorted(os.listdir(tmp_path / "a"))
  assert names == [
    "metadata.json",
    "train-00000-of-00003.tfrecord",
    "train-00001-of-00003.tfrecord",
    "train-00002-of-00003.tfrecord",
    "vocab.txt",
  ]
  assert summary.num_shards == {"train": 3, "validation": 0, "test": 0}
  assert [e["id"] for e in read_split(tmp_path / "a", "train")] == [
    f"img{i}" for i in range(5)
  ]
  write(items, tmp_path / "b", num_shards=2)
  assert sorted(e["id"] for e in read_split(tmp_path / "b", "train")) == [
    f"img{i}" for i in range(5)
  ]
  assert read_metadata(tmp_path / "b")["num_shards"]["train"] == 2


def test_a_crash_leaves_nothing_that_looks_complete(tmp_path):
  def items():
    yield record(0)
    yield record(1)
    raise RuntimeError("disk on fire")

  with pytest.raises(RuntimeError):
    write(items(), tmp_path / "out", examples_per_shard=1)
  assert os.listdir(tmp_path) == []


def test_existing_output_dir_needs_overwrite(tmp_path):
  write([record(0)], tmp_path / "out")
  with pytest.raises(
    common.DatasetError, match=r"--out_dir=.* already exists.*--overwrite"
  ):
    write([record(1)], tmp_path / "out")
  write([record(1)], tmp_path / "out", overwrite=True)
  assert [e["id"] for e in read_split(tmp_path / "out", "train")] == ["img1"]
  assert os.listdir(tmp_path) == ["out"]


def test_no_usable_example_and_bad_options_are_errors(tmp_path):
  junk = save(tmp_path / "junk.png", b"junk")
  with pytest.raises(
    common.DatasetError, match=r"no usable examples .*1 corrupt_image"
  ):
    write([record(0, image_path=junk)], tmp_path / "out")
  with pytest.raises(common.DatasetError, match="cannot both be set"):
    write([record(0)], tmp_path / "out", num_shards=2, examples_per_shard=2)
  with pytest.raises(common.DatasetError, match="--num_shards=0"):
    write([record(0)], tmp_path / "out", num_shards=0)


def test_embeddings_must_be_on_all_records_one_row_per_caption(tmp_path):
  with_embeddings = record(0, embeddings=np.zeros((1, 4), np.float32))
  with pytest.raises(common.DatasetError, match="lacks caption embeddings"):
    write([with_embeddings, record(1)], tmp_path / "out")
  with pytest.raises(ValueError, match=r"expected \[1 captions, dim\]"):
    write(
      [record(0, embeddings=np.zeros((10, 4), np.float32))], tmp_path / "out"
    )
  assert os.listdir(tmp_path) == []


def test_progress_reports_the_end(tmp_path):
  seen = []
  writer.write_dataset(
    [record(0), common.DataIssue(common.EMPTY_CAPTION_FILE, "/e.txt")],
    str(tmp_path / "out"),
    dataset_name="t",
    data_dir="/src",
    class_names=CLASS_NAMES,
    total=2,
    progress=seen.append,
  )
  last = seen[-1]
  assert (last.processed, last.written, last.skipped, last.total) == (
    2,
    1,
    1,
    2,
  )
  assert last.eta_s == 0.0
