"""Data paths given as URLs: everything in-process on TensorFlow's ram://
file system, which goes through tf.io.gfile as gs:// does on a cluster.

Each test runs in a fresh working directory, and checks that no local
folder named "ram:" appeared there: a path that bypassed tf.io.gfile
would have made one.
"""

import io
import os
import uuid

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import input_pipeline
from sdn_tf.data import layouts
from sdn_tf.data import preparation
from sdn_tf.data import shapes
from sdn_tf.data.records import schema
from sdn_tf.data.records import writer as records_writer
from sdn_tf.text import vocab as vocab_lib
from sdn_tf.utils import files
from tests.tiny_shapes import shapes_config

R = 32


@pytest.fixture
def root(tmp_path, monkeypatch):
  """A ram:// root of its own; fails the test if anything went local."""
  monkeypatch.chdir(tmp_path)
  yield f"ram://{uuid.uuid4().hex}"
  assert not os.path.exists(tmp_path / "ram:"), "a URL was used as a path"


def _config(root, **overrides):
  return shapes_config(root, **{"shapes_num_train": 40, **overrides})


def test_shapes_generated_prepared_and_read_from_ram(root, monkeypatch):
  config = _config(root)
  assert preparation.ensure_prepared(config) == config.data_dir
  assert shapes.dataset_info(config.raw_data_dir)["complete"]
  # Published: no temporary sibling left, metadata.json beside the shards.
  assert files.listdir(root) == ["raw", "records"]
  metadata = input_pipeline.read_metadata(config.data_dir)
  assert sum(metadata["num_examples"].values()) == 40 + 32
  assert files.isfile(files.join(config.data_dir, schema.VOCAB_FILE))

  batch = next(
    iter(
      input_pipeline.make_dataset(
        config.data_dir,
        "test",
        global_batch_size=4,
        image_size=R,
        training=False,
        deterministic=True,
      )
    )
  )
  assert batch["image"].shape == (4, R, R, 3)
  assert batch["caption"].shape == (4,)
  assert batch["attributes"].shape == (4, len(shapes.ATTRIBUTE_VALUES))

  # A second run reuses both the raw and the prepared data.
  def fail(*args, **kwargs):
    raise AssertionError("prepared again")

  monkeypatch.setattr(shapes, "write_dataset", fail)
  monkeypatch.setattr(records_writer, "convert", fail)
  assert preparation.ensure_prepared(config) == config.data_dir
  assert preparation.is_prepared(config)


def test_changed_flags_replace_the_data_on_ram(root):
  preparation.ensure_prepared(_config(root))
  config = _config(root, shapes_seed=3)
  assert not preparation.is_prepared(config)
  preparation.ensure_prepared(config)
  assert preparation.is_prepared(config)
  assert shapes.dataset_info(config.raw_data_dir)["seed"] == 3
  metadata = input_pipeline.read_metadata(config.data_dir)
  assert metadata["settings"]["shapes_seed"] == 3
  # The old data set is gone, not merged with the new one.
  names = set(files.listdir(config.data_dir))
  assert names == {schema.METADATA_FILE, schema.VOCAB_FILE} | {
    name for shards in metadata["shard_files"].values() for name in shards
  }
  assert files.listdir(root) == ["raw", "records"]


def _png(seed: int) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG")
  return buffer.getvalue()


def test_folder_layout_is_found_and_converted_on_ram(root):
  data_dir = f"{root}/pics"
  for relpath in ("cats/a", "cats/deeper/b", "dogs/c", "top", ".cache/x"):
    files.makedirs(files.split(f"{data_dir}/{relpath}")[0])
    files.write(f"{data_dir}/{relpath}.png", _png(len(relpath)))
    files.write(f"{data_dir}/{relpath}.txt", f"a picture of {relpath}\n")
  files.write(f"{data_dir}/dogs/uncaptioned.png", _png(0))

  assert layouts.detect_layout(data_dir) == "folder"
  source = layouts.load_dataset("auto", data_dir, test_fraction=0.0)
  assert source.data_dir == data_dir
  assert source.class_names == ("pics", "cats", "dogs")
  records = {r.example_id: r for r in source.records()}
  expected = ["cats/a.png", "cats/deeper/b.png", "dogs/c.png", "top.png"]
  assert sorted(records) == expected
  assert records["cats/deeper/b.png"].captions == (
    "a picture of cats/deeper/b",
  )
  assert records["top.png"].read_image_bytes() == _png(len("top"))

  out_dir = f"{root}/records"
  summary = records_writer.convert(source, out_dir)
  assert summary.out_dir == out_dir
  assert summary.skipped == {"missing_caption_file": 1}
  assert sum(summary.num_examples.values()) == 4
  vocab = vocab_lib.read_vocabulary(files.join(out_dir, schema.VOCAB_FILE))
  assert vocab[0] == vocab_lib.PAD_TOKEN and "picture" in vocab


def test_missing_url_data_dir_is_a_layout_error(root):
  with pytest.raises(layouts.common.LayoutError, match="does not exist"):
    layouts.load_dataset("folder", f"{root}/nothing")


def test_a_copy_cut_short_before_its_metadata_is_prepared_again(root):
  # On a URL the records are copied in file by file, metadata.json last; a
  # crash in between leaves shards without it. That copy is replaced, but
  # a folder holding anything else is still never overwritten.
  config = _config(root)
  preparation.ensure_prepared(config)
  files.remove(files.join(config.data_dir, schema.METADATA_FILE))
  assert preparation.ensure_prepared(config) == config.data_dir
  assert files.isfile(files.join(config.data_dir, schema.METADATA_FILE))

  files.remove(files.join(config.data_dir, schema.METADATA_FILE))
  files.write(files.join(config.data_dir, "my_notes.txt"), "mine")
  with pytest.raises(records_writer.common.DatasetError, match="--overwrite"):
    preparation.ensure_prepared(config)
  assert files.read_text(files.join(config.data_dir, "my_notes.txt")) == "mine"
