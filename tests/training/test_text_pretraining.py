"""Tests for the text encoder's alignment pretraining (sdn_tf/training/text_pretraining)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.data import preparation
from sdn_tf.data import shapes_loader
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import builders
from sdn_tf.training import finite_guard
from sdn_tf.training import loop
from sdn_tf.training import text_pretraining
from tests.tiny_shapes import shapes_config

_IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("text_pretraining")
  config = shapes_config(
    root,
    shapes_num_train=24,
    image_size=_IMAGE_SIZE,
    embedding_dim=16,
    text_pretrain_steps=60,
    text_pretrain_images=12,
    text_pretrain_point="block3_pool",
    jit_compile="false",
  )
  data_dir = preparation.ensure_prepared(config)
  keras.utils.set_random_seed(0)
  teacher = teacher_lib.build_teacher(_IMAGE_SIZE, None, "avg")  # random
  return config, data_dir, teacher


def test_features_pair_each_image_with_all_its_captions(setup):
  config, data_dir, teacher = setup
  captions, features = text_pretraining.teacher_features(
    teacher, config, data_dir, "train", 12
  )
  assert captions.shape == (12, 10)
  # block3_pool at R = 32: 4 x 4 x 256.
  assert features.shape == (12, 4 * 4 * 256)
  records = list(shapes_loader.load_shapes(config.raw_data_dir).records())
  by_captions = {tuple(c.encode() for c in r.captions) for r in records}
  assert all(tuple(row) in by_captions for row in captions)
  # Each row's features are the teacher's on that row's image.
  dataset = input_pipeline.make_dataset(
    data_dir,
    "train",
    global_batch_size=1,
    image_size=_IMAGE_SIZE,
    training=False,
    deterministic=True,
  )
  images_in_file_order = [(b["id"].numpy()[0], b["image"]) for b in dataset]
  by_id = dict(images_in_file_order)
  first_caption_to_id = {
    r.captions[0].encode(): r.example_id.encode() for r in records
  }
  row_ids = [first_caption_to_id[row[0]] for row in captions]
  for row in (0, 11):
    expected = teacher(
      teacher_lib.to_teacher_space(by_id[row_ids[row]], "caffe"),
      training=False,
    )["block3_pool"]
    np.testing.assert_allclose(
      features[row], tf.reshape(expected, [-1]), rtol=1e-4, atol=1e-4
    )
  # Records are class-sorted: the sample is spread over the split, not its
  # first 12 images.
  first_12 = {image_id for image_id, _ in images_in_file_order[:12]}
  assert set(row_ids) != first_12
  assert len(set(row_ids)) == 12


def test_pretraining_fits_the_teacher_features(setup):
  config, data_dir, teacher = setup
  keras.utils.set_random_seed(0)
  encoder = builders.make_encoder(config, data_dir)
  report = text_pretraining.pretrain_encoder(encoder, teacher, config, data_dir)
  assert report["steps"] == 60 and report["images"] == 12
  # Measured: 0.55 from 0.85-0.88.
  assert report["final_train_loss"] < 0.8 * report["first_train_loss"], report
  # Validation where the records have it; the test split only without.
  has_validation = input_pipeline.has_split(data_dir, "validation")
  assert report["heldout_split"] == ("validation" if has_validation else "test")
  assert np.isfinite(report["heldout_variance_explained"])


def test_weights_round_trip_and_refuse_another_encoder(setup, tmp_path):
  config, data_dir, _ = setup
  trained = builders.make_encoder(config, data_dir)
  fresh = builders.make_encoder(config, data_dir)
  texts = tf.constant(["a big red circle", "a tiny blue cross"])
  before = trained(texts)
  fresh(texts)
  path = str(tmp_path / "encoder.npz")
  text_pretraining.save_encoder_weights(trained, path)
  text_pretraining.load_encoder_weights(fresh, path)
  np.testing.assert_allclose(fresh(texts), before, rtol=1e-6)
  other = builders.make_encoder(
    Config(**{**config.__dict__, "embedding_dim": 8}), data_dir
  )
  other(texts)
  with pytest.raises(ValueError, match="delete it to pretrain again"):
    text_pretraining.load_encoder_weights(other, path)


def test_a_frozen_encoder_is_not_trained(setup):
  config, data_dir, _ = setup
  config = Config(**{**config.__dict__, "freeze_text_encoder": True})
  state = loop.TrainState(
    config, data_dir, None, None, {loop.STAGE_ONE: 1, loop.STAGE_TWO: 1}
  )
  trained = {id(v) for v in state.generator.trainable_variables}
  assert state.generator.encoder.weights
  assert not any(id(w) in trained for w in state.generator.encoder.weights)
  assert any(
    id(w) in trained for w in state.generator.student.trainable_variables
  )


def test_whitening_gives_zero_mean_and_the_asked_std_where_it_varies(setup):
  config, data_dir, _ = setup
  # Seeded: under some random inits (which depend on the tests run before
  # in the process) the 32 captions' embeddings span the 16 dimensions too
  # unevenly for the check below.
  keras.utils.set_random_seed(0)
  encoder = builders.make_encoder(config, data_dir)
  captions = np.array(
    [
      f"a {size} {colour} circle at the {place}"
      for size in ("small", "large")
      for colour in ("red", "green", "blue", "white")
      for place in ("top", "bottom", "left", "right")
    ]
  )
  texts = tf.constant(list(captions))
  raw = encoder(texts).numpy().astype(np.float64)
  summary = text_pretraining.whiten_embedding(
    encoder, captions, std=0.1, relative_epsilon=1e-6
  )
  assert summary["captions"] == 32 and summary["std"] == 0.1
  white = encoder(texts).numpy().astype(np.float64)
  # Still an affine image of the same embedding ...
  design = np.c_[raw, np.ones(len(raw))]
  fit = np.linalg.lstsq(design, white, rcond=None)[0]
  np.testing.assert_allclose(design @ fit, white, atol=1e-4)
  # ... now centred, with variance 0.1^2 in every direction (the 32
  # captions span all 16).
  np.testing.assert_allclose(white.mean(axis=0), 0.0, atol=1e-4)
  variances = np.linalg.eigvalsh(np.cov(white, rowvar=False))
  np.testing.assert_allclose(variances, 0.01, rtol=2e-2)


def test_whitening_damps_directions_that_do_not_vary(setup):
  config, data_dir, _ = setup
  encoder = builders.make_encoder(config, data_dir)
  # Three captions span two directions of the 16-d embedding.
  captions = np.array(["a red circle", "a blue circle", "a red cross"])
  text_pretraining.whiten_embedding(encoder, captions, std=1.0)
  white = encoder(tf.constant(list(captions))).numpy()
  assert np.all(np.isfinite(white))
  spread = np.linalg.svd(white - white.mean(0), compute_uv=False)
  assert np.sum(spread > 0.1) == 2, spread


def test_a_cache_pretrained_with_other_flags_is_pretrained_again(
  setup, tmp_path, caplog
):
  config, data_dir, teacher = setup
  config = Config(
    **{**config.__dict__, "text_pretrain_steps": 2, "text_embedding_std": 0.1}
  )
  calls = []

  def make_encoder():
    calls.append(1)
    return builders.make_encoder(config, data_dir)

  workdir = str(tmp_path)

  def resolve(config, teacher_name):
    return text_pretraining.resolve_encoder_weights(
      config,
      workdir,
      data_dir,
      make_encoder,
      lambda: teacher,
      lambda: teacher_name,
    )

  path = resolve(config, "teacher A")
  report_path = text_pretraining.cached_paths(workdir)[1]
  with open(report_path) as f:
    report = json.load(f)
  assert report["whitening"]["std"] == 0.1
  assert report["settings"]["text_pretrain_steps"] == 2
  again = resolve(config, "teacher A")
  assert again == path and len(calls) == 1
  assert "pretrained with other flags" not in caplog.text
  changed = Config(**{**config.__dict__, "text_embedding_std": 0.3})
  assert resolve(changed, "teacher A") == path
  assert len(calls) == 2
  assert "--text_embedding_std: cached 0.1, now 0.3" in caplog.text
  with open(report_path) as f:
    assert json.load(f)["whitening"]["std"] == 0.3
  # Aligned with another teacher (another pooling, or one pretrained
  # again under the same flags), the encoder is stale too.
  resolve(changed, "teacher B")
  assert len(calls) == 3
  assert "--teacher: cached teacher A, now teacher B" in caplog.text
  # Another --seed samples other images and starts from other weights.
  reseeded = Config(**{**changed.__dict__, "seed": changed.seed + 1})
  resolve(reseeded, "teacher B")
  assert len(calls) == 4
  assert f"--seed: cached {changed.seed}, now {changed.seed + 1}" in (
    caplog.text
  )
  # Another reader of the tokens has other weights altogether.
  bag = Config(**{**reseeded.__dict__, "text_architecture": "bag_of_words"})
  resolve(bag, "teacher B")
  assert len(calls) == 5
  assert "--text_architecture: cached cnn_rnn, now bag_of_words" in (
    caplog.text
  )
  with open(report_path) as f:
    assert json.load(f)["settings"]["text_architecture"] == "bag_of_words"
  # Weights whose report is gone (a crash between the two writes) are
  # not taken for a finished cache either.
  os.remove(report_path)
  resolve(bag, "teacher B")
  assert len(calls) == 6


def test_no_pretraining_reads_nothing(setup, tmp_path):
  config, data_dir, _ = setup
  config = Config(**{**config.__dict__, "text_pretrain_steps": 0})

  def never(*_):
    raise AssertionError("called with --text_pretrain_steps=0")

  # Hashing the teacher's weights (a large, maybe remote, file) is skipped.
  assert (
    text_pretraining.resolve_encoder_weights(
      config, str(tmp_path), data_dir, never, never, never
    )
    is None
  )


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_a_non_finite_step_is_caught_before_the_update(setup, policy):
  config, data_dir, teacher = setup
  config = Config(
    **{
      **config.__dict__,
      "text_pretrain_steps": 8,
      "test_poison": "text_pretrain:5",
      "on_non_finite": policy,
    }
  )
  encoder = builders.make_encoder(config, data_dir)
  if policy == "stop":
    with pytest.raises(
      finite_guard.NonFiniteError, match="text_pretrain step 5: "
    ):
      text_pretraining.pretrain_encoder(encoder, teacher, config, data_dir)
    return
  report = text_pretraining.pretrain_encoder(encoder, teacher, config, data_dir)
  assert np.isfinite(report["final_train_loss"])
  assert all(np.isfinite(w).all() for w in encoder.get_weights())
