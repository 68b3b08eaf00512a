"""Tests for sdn_tf.data.records.checked_reader on shards damaged here.

Each test writes a real shard with tf.io.TFRecordWriter, damages its bytes
the way a disk or a copy would, and reads it back.
"""

import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from sdn_tf.data import input_pipeline
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.data.records import checked_reader
from sdn_tf.data.records import schema

NUM_RECORDS = 8


def _png(value: int) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(buffer, "PNG")
  return buffer.getvalue()


def _serialized(index: int, image_bytes: bytes = b"") -> bytes:
  record = CaptionedImage(
    example_id=f"img{index}",
    captions=(f"caption {index}",),
    label=index % 3,
    class_name="class",
    split="train",
    image_bytes=image_bytes or _png(10 * index),
  )
  return schema.encode_example(record, record.image_bytes).SerializeToString()


def _write(path, records):
  offsets = []
  with tf.io.TFRecordWriter(str(path)) as writer:
    for serialized in records:
      offsets.append(sum(16 + len(r) for r in records[: len(offsets)]))
      writer.write(serialized)
  return offsets


@pytest.fixture
def shard(tmp_path):
  """A shard of NUM_RECORDS good records, and each record's byte offset."""
  path = tmp_path / schema.shard_name("train", 0, 1)
  offsets = _write(path, [_serialized(i) for i in range(NUM_RECORDS)])
  return path, offsets


def _flip(path, offset):
  data = bytearray(path.read_bytes())
  data[offset] ^= 0xFF
  path.write_bytes(bytes(data))


def _ids(path, policy):
  return [
    tf.train.Example.FromString(s)
    .features.feature[schema.IMAGE_ID]
    .bytes_list.value[0]
    .decode()
    for s in checked_reader.read_shard(str(path), policy)
  ]


def test_reads_every_record_of_an_intact_shard(shard):
  path, _ = shard
  policy = checked_reader.BadRecordPolicy()
  assert _ids(path, policy) == [f"img{i}" for i in range(NUM_RECORDS)]
  assert policy.skipped == 0


def test_a_corrupt_data_byte_costs_only_that_record(shard, caplog):
  path, offsets = shard
  _flip(path, offsets[3] + 12 + 40)  # inside record 3's data
  policy = checked_reader.BadRecordPolicy()
  assert _ids(path, policy) == [f"img{i}" for i in range(8) if i != 3]
  assert policy.skipped == 1
  assert f"{path}: record 3" in caplog.text
  # tf.data's own reader loses every record from there on.
  read = list(tf.data.TFRecordDataset(str(path)).ignore_errors())
  assert len(read) == 3


def test_a_damaged_length_resumes_at_the_next_intact_record(shard):
  path, offsets = shard
  _flip(path, offsets[2] + 1)  # record 2's length field
  policy = checked_reader.BadRecordPolicy()
  assert _ids(path, policy) == [f"img{i}" for i in range(8) if i != 2]
  assert policy.skipped == 1


def test_a_truncated_shard_keeps_what_came_before(shard):
  path, offsets = shard
  path.write_bytes(path.read_bytes()[: offsets[5] + 30])
  policy = checked_reader.BadRecordPolicy()
  assert _ids(path, policy) == [f"img{i}" for i in range(5)]
  assert policy.skipped == 1


def test_intact_bytes_that_do_not_decode_are_skipped(tmp_path):
  path = tmp_path / "shard.tfrecord"
  records = [
    _serialized(0),
    b"\xff\xfe not an Example at all",
    _serialized(2, image_bytes=_png(20)[:40]),  # a cut-off PNG
    _serialized(3, image_bytes=b"no image format"),
    _serialized(4),
  ]
  _write(path, records)
  policy = checked_reader.BadRecordPolicy()
  assert _ids(path, policy) == ["img0", "img4"]
  assert policy.skipped == 3


def test_strict_names_the_shard_and_the_record(shard):
  path, offsets = shard
  _flip(path, offsets[6] + 12 + 40)
  policy = checked_reader.BadRecordPolicy(strict=True)
  with pytest.raises(checked_reader.BadRecordError) as error:
    _ids(path, policy)
  assert f"{path}: record 6:" in str(error.value)
  assert "--strict" in str(error.value)


def test_usable_shards_repairs_a_damaged_shard_once(shard):
  path, offsets = shard
  _flip(path, offsets[4] + 12 + 40)
  policy = checked_reader.BadRecordPolicy()
  (usable,) = checked_reader.usable_shards([str(path)], policy)
  assert usable != str(path)
  ids = [
    tf.train.Example.FromString(s.numpy())
    .features.feature[schema.IMAGE_ID]
    .bytes_list.value[0]
    .decode()
    for s in tf.data.TFRecordDataset(usable)
  ]
  assert ids == [f"img{i}" for i in range(NUM_RECORDS) if i != 4]
  # Checked once: a second pipeline of the run neither re-reads nor
  # re-counts it.
  assert checked_reader.usable_shards([str(path)], policy) == [usable]
  assert policy.skipped == 1


def test_an_intact_shard_is_read_in_place(shard):
  path, _ = shard
  assert checked_reader.usable_shards([str(path)]) == [str(path)]


def test_the_pipeline_skips_a_bad_record_and_yields_the_rest(tmp_path):
  path = tmp_path / schema.shard_name("train", 0, 1)
  offsets = _write(path, [_serialized(i) for i in range(NUM_RECORDS)])
  _flip(path, offsets[2] + 12 + 30)
  policy = checked_reader.BadRecordPolicy()
  checked_reader.set_process_policy(policy)
  try:
    dataset = input_pipeline.make_dataset(
      str(tmp_path),
      "train",
      global_batch_size=1,
      image_size=4,
      training=False,
      deterministic=True,
    )
    ids = [batch["id"][0].numpy().decode() for batch in dataset]
  finally:
    checked_reader.set_process_policy(checked_reader.BadRecordPolicy())
  assert ids == [f"img{i}" for i in range(NUM_RECORDS) if i != 2]
  assert policy.skipped == 1


def test_a_strict_pipeline_refuses_to_start(tmp_path):
  path = tmp_path / schema.shard_name("train", 0, 1)
  offsets = _write(path, [_serialized(i) for i in range(NUM_RECORDS)])
  _flip(path, offsets[5] + 12 + 30)
  checked_reader.set_process_policy(checked_reader.BadRecordPolicy(True))
  try:
    with pytest.raises(checked_reader.BadRecordError, match="record 5"):
      input_pipeline.make_dataset(
        str(tmp_path),
        "train",
        global_batch_size=1,
        image_size=4,
        training=True,
      )
  finally:
    checked_reader.set_process_policy(checked_reader.BadRecordPolicy())
