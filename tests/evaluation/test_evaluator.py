"""The evaluator network on a tiny real shapes set: trained, reported,
cached, and refused for records without attributes."""

import json
import os
import uuid

import numpy as np
import pytest

from sdn_tf.data import preparation
from sdn_tf.evaluation import evaluator as evaluator_lib
from sdn_tf.evaluation import inception
from sdn_tf.utils import files
from tests.tiny_shapes import shapes_config

R = 32


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  base = tmp_path_factory.mktemp("evaluator")
  config = shapes_config(base, shapes_num_train=96, image_size=R)
  return preparation.ensure_prepared(config)


def test_trains_reports_and_is_reused(data_dir):
  settings = evaluator_lib.EvaluatorSettings(R, steps=20, batch_size=16)
  messages = []
  trained = evaluator_lib.load_or_train(data_dir, settings, messages.append)
  accuracy = trained.report["test_accuracy"]
  assert list(accuracy) == ["shape", "colour", "size", "position", "background"]
  assert all(0.0 <= v <= 1.0 for v in accuracy.values())
  # 20 steps cannot reach the bar, and the evaluator says so.
  assert not trained.trusted
  folder = evaluator_lib.cache_dir(data_dir, settings)
  with open(os.path.join(folder, evaluator_lib.REPORT_NAME)) as f:
    assert json.load(f)["test_accuracy"] == accuracy
  images = np.random.default_rng(0).integers(0, 255, (5, R, R, 3), np.uint8)
  first = trained.run(images)
  assert first["features"].shape == (5, evaluator_lib.FEATURE_DIM)
  assert set(first["colour"]) <= {
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "cyan",
    "white",
  }
  reused = evaluator_lib.load_or_train(data_dir, settings, messages.append)
  assert "Reusing" in messages[-1]
  np.testing.assert_allclose(
    reused.run(images)["features"], first["features"], rtol=1e-5, atol=1e-5
  )
  # Other settings, another cache entry.
  other = evaluator_lib.EvaluatorSettings(R, steps=21, batch_size=16)
  assert evaluator_lib.cache_dir(data_dir, other) != folder


def test_cache_under_a_url_data_dir(tmp_path, monkeypatch):
  # ram:// is TensorFlow's in-process file system, reached as gs:// is.
  monkeypatch.chdir(tmp_path)
  root = f"ram://{uuid.uuid4().hex}"
  config = shapes_config(root, shapes_num_train=40, image_size=R)
  data_dir = preparation.ensure_prepared(config)
  settings = evaluator_lib.EvaluatorSettings(R, steps=2, batch_size=8)
  messages = []
  trained = evaluator_lib.load_or_train(data_dir, settings, messages.append)
  folder = evaluator_lib.cache_dir(data_dir, settings)
  assert folder.startswith(root)
  assert sorted(files.listdir(folder)) == sorted(
    [evaluator_lib.REPORT_NAME, evaluator_lib.WEIGHTS_NAME]
  )
  reused = evaluator_lib.load_or_train(data_dir, settings, messages.append)
  assert "Reusing" in messages[-1]
  assert reused.report == trained.report
  assert not os.path.exists(tmp_path / "ram:")  # nothing went local


def test_records_without_attributes_are_refused(data_dir, tmp_path):
  import shutil

  copy = tmp_path / "records"
  shutil.copytree(data_dir, copy)
  meta_path = copy / "metadata.json"
  meta = json.loads(meta_path.read_text())
  meta["attributes"] = {}
  meta_path.write_text(json.dumps(meta))
  with pytest.raises(ValueError, match="carry no attributes"):
    evaluator_lib.load_or_train(
      str(copy), evaluator_lib.EvaluatorSettings(R, steps=1)
    )


def test_inception_scorer_runs_with_random_weights():
  scorer = inception.InceptionScorer(weights=None)
  images = np.random.default_rng(0).integers(0, 255, (3, 24, 24, 3), np.uint8)
  out = scorer.run(images, batch_size=2)
  assert out["features"].shape == (3, 2048)
  assert out["probabilities"].shape == (3, 1000)
  np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, rtol=1e-4)
  assert "random" in scorer.name


def test_inception_weights_file_must_exist(tmp_path):
  with pytest.raises(FileNotFoundError, match="--inception_weights="):
    inception.InceptionScorer(str(tmp_path / "missing.keras"))
