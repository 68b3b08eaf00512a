"""A run reuses prepared data only when it was made with the run's flags."""

import json
import os

from sdn_tf.data import preparation
from sdn_tf.data import shapes
from sdn_tf.data.records import schema
from tests.tiny_shapes import shapes_config

_config = shapes_config


def _metadata(config):
  with open(os.path.join(config.data_dir, schema.METADATA_FILE)) as f:
    return json.load(f)


def _images(config):
  return sum(_metadata(config)["num_examples"].values())


def test_records_the_flags_and_reuses_what_they_made(tmp_path, caplog):
  config = _config(tmp_path)
  preparation.ensure_prepared(config)
  assert _metadata(config)["settings"] == {
    "dataset": "shapes",
    "shapes_num_train": 64,
    "shapes_num_test": 32,
    "image_size": 32,
    "shapes_seed": 0,
  }
  made = _metadata(config)["created_utc"], os.stat(config.data_dir).st_ino

  # --seed is the training's own: the data set stays.
  preparation.ensure_prepared(_config(tmp_path, seed=5))
  assert (
    _metadata(config)["created_utc"],
    os.stat(config.data_dir).st_ino,
  ) == (made)
  assert "again" not in caplog.text


def test_changed_flags_make_the_data_again_and_say_which(tmp_path, caplog):
  preparation.ensure_prepared(_config(tmp_path))
  config = _config(tmp_path, shapes_num_train=96, shapes_seed=3)
  preparation.ensure_prepared(config)
  assert _images(config) == 96 + 32
  assert _metadata(config)["settings"]["shapes_seed"] == 3
  assert shapes.dataset_info(config.raw_data_dir)["seed"] == 3
  assert (
    "--shapes_num_train: cached 64, now 96, --shapes_seed: cached 0, now 3"
    in caplog.text
  )


def test_unfinished_shapes_are_generated_again(tmp_path, caplog):
  config = _config(tmp_path)
  preparation.ensure_shapes_generated(config)
  # What a kill during generation leaves: the info file says "not complete"
  # and the index files, written last, are missing.
  info_path = os.path.join(config.raw_data_dir, shapes.INFO_FILE)
  with open(info_path) as f:
    info = json.load(f)
  with open(info_path, "w") as f:
    json.dump(dict(info, complete=False), f)
  os.remove(os.path.join(config.raw_data_dir, "images.txt"))

  preparation.ensure_prepared(config)
  assert "it was never finished" in caplog.text
  assert shapes.dataset_info(config.raw_data_dir)["complete"] is True
  assert _images(config) == 64 + 32


def test_records_that_do_not_name_their_flags_are_made_again(tmp_path, caplog):
  config = _config(tmp_path)
  preparation.ensure_prepared(config)
  # As written before the flags were recorded.
  metadata = _metadata(config)
  del metadata["settings"]
  with open(os.path.join(config.data_dir, schema.METADATA_FILE), "w") as f:
    json.dump(metadata, f)

  preparation.ensure_prepared(config)
  assert "--shapes_num_train: cached None, now 64" in caplog.text
  assert _metadata(config)["settings"]["shapes_num_train"] == 64
