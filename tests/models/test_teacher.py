"""Tests for sdn_tf.models.teacher with the real keras.applications.VGG19.

Random weights stand in for ImageNet's (no download); everything the tests
check (layer wiring, weight sharing, frozenness, input spaces) is the same
for any weights.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sdn_tf import config as config_lib
from sdn_tf.data import preparation
from sdn_tf.models import generator as generator_lib
from sdn_tf.models import student as student_lib
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.models import vgg_spec
from sdn_tf.text import encoders
from sdn_tf.training import distillation
from sdn_tf.training import finite_guard
from sdn_tf.training import losses as losses_lib
from sdn_tf.training import teacher_pretraining

R = 32


def _images(batch, size=R, seed=0):
  """Random RGB images in 0..255."""
  return (
    np.random.RandomState(seed)
    .uniform(0, 255, (batch, size, size, 3))
    .astype(np.float32)
  )


@pytest.fixture(scope="module")
def vgg():
  keras.utils.set_random_seed(1)
  return teacher_lib.build_vgg19(R)


# --- taps -----------------------------------------------------------------


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_taps_return_all_points_with_their_shapes(image_size, pooling):
  teacher = teacher_lib.build_teacher(image_size, pooling=pooling)
  out = teacher_lib.activations(
    teacher, teacher_lib.to_teacher_space(_images(2, image_size), "caffe")
  )
  assert set(out) == set(vgg_spec.POINT_NAMES)
  for point in vgg_spec.MIRROR_POINTS:
    assert tuple(out[point.name].shape) == (2,) + point.shape(image_size), (
      point.name
    )


def test_input_tap_is_the_image(vgg):
  teacher = teacher_lib.tap_mirror_points(vgg, "avg")
  x = teacher_lib.to_teacher_space(_images(2), "caffe")
  np.testing.assert_array_equal(teacher(x)["input"], x)


@pytest.mark.parametrize("bad", ["min", "AVG", ""])
def test_bad_pooling_raises(vgg, bad):
  with pytest.raises(ValueError, match="unknown pooling"):
    teacher_lib.tap_mirror_points(vgg, bad)


def test_bad_image_size_raises():
  with pytest.raises(ValueError, match="multiple of 32"):
    teacher_lib.build_teacher(48)


# --- pooling layers and weight sharing -----------------------------------


def _pool_layers(model):
  return {l.name: l for l in model.layers if l.name.endswith("_pool")}


def test_avg_pooling_uses_average_pool_layers(vgg):
  teacher = teacher_lib.tap_mirror_points(vgg, "avg")
  pools = _pool_layers(teacher)
  assert sorted(pools) == [f"block{i}_pool" for i in range(1, 6)]
  for layer in pools.values():
    assert type(layer) is keras.layers.AveragePooling2D
    assert tuple(layer.pool_size) == (2, 2)
    assert tuple(layer.strides) == (2, 2)
  assert not any(
    isinstance(l, keras.layers.MaxPooling2D) for l in teacher.layers
  )


def test_max_pooling_uses_max_pool_layers(vgg):
  teacher = teacher_lib.tap_mirror_points(vgg, "max")
  pools = _pool_layers(teacher)
  assert sorted(pools) == [f"block{i}_pool" for i in range(1, 6)]
  for name, layer in pools.items():
    assert type(layer) is keras.layers.MaxPooling2D
    assert layer is vgg.get_layer(name)
  assert not any(
    isinstance(l, keras.layers.AveragePooling2D) for l in teacher.layers
  )


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_conv_weights_are_shared_with_the_vgg19(vgg, pooling):
  teacher = teacher_lib.tap_mirror_points(vgg, pooling)
  convs = [p.name for p in vgg_spec.MIRROR_POINTS if p.kind == "conv"]
  assert len(teacher.weights) == 2 * len(convs) == len(vgg.weights)
  for name in convs:
    ours, theirs = teacher.get_layer(name), vgg.get_layer(name)
    assert ours is theirs
    np.testing.assert_array_equal(ours.kernel.numpy(), theirs.kernel.numpy())
    np.testing.assert_array_equal(ours.bias.numpy(), theirs.bias.numpy())


def test_max_teacher_matches_the_vgg19_output(vgg):
  """The taps of the max-pool teacher are VGG19's own activations."""
  teacher = teacher_lib.tap_mirror_points(vgg, "max")
  x = teacher_lib.to_teacher_space(_images(2), "caffe")
  np.testing.assert_allclose(
    teacher(x)["block5_pool"], vgg(x), rtol=1e-5, atol=1e-5
  )
  conv3 = keras.Model(vgg.input, vgg.get_layer("block3_conv3").output)
  np.testing.assert_allclose(
    teacher(x)["block3_conv3"], conv3(x), rtol=1e-5, atol=1e-5
  )


def test_avg_teacher_average_pools_the_same_convs(vgg):
  avg = teacher_lib.tap_mirror_points(vgg, "avg")(
    teacher_lib.to_teacher_space(_images(2), "caffe")
  )
  conv = avg["block1_conv2"].numpy()
  by_hand = conv.reshape(2, R // 2, 2, R // 2, 2, 64).mean(axis=(2, 4))
  np.testing.assert_allclose(avg["block1_pool"], by_hand, rtol=1e-5, atol=1e-5)
  # The next conv reads the average pool, so avg and max differ from there.
  mx = teacher_lib.tap_mirror_points(vgg, "max")(
    teacher_lib.to_teacher_space(_images(2), "caffe")
  )
  np.testing.assert_allclose(
    avg["block1_conv2"], mx["block1_conv2"], rtol=1e-5, atol=1e-5
  )
  assert not np.allclose(avg["block2_conv1"], mx["block2_conv1"])


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_teacher_has_no_trainable_weights(pooling):
  teacher = teacher_lib.build_teacher(R, pooling=pooling)
  assert teacher.trainable_weights == []
  assert len(teacher.non_trainable_weights) == 32  # 16 convs x (kernel, bias)
  assert not teacher.trainable


# --- input spaces ---------------------------------------------------------


def test_caffe_equals_keras_preprocess_input():
  images = _images(3, 8)
  ours = teacher_lib.to_teacher_space(images, "caffe")
  theirs = keras.applications.vgg19.preprocess_input(images.copy())
  np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)


def test_caffe_hand_values():
  pixel = np.array([[[[10.0, 20.0, 30.0]]]], np.float32)  # R, G, B
  out = teacher_lib.to_teacher_space(pixel, "caffe").numpy().ravel()
  np.testing.assert_allclose(
    out, [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-4
  )  # B, G, R
  uint8 = teacher_lib.to_teacher_space(np.uint8([[[[255, 0, 0]]]]), "caffe")
  assert uint8.dtype == tf.float32
  np.testing.assert_allclose(
    uint8.numpy().ravel(), [-103.939, -116.779, 255 - 123.68], atol=1e-4
  )


@pytest.mark.parametrize("scaling", ["caffe", "raw"])
def test_from_teacher_space_inverts(scaling):
  images = _images(2, 8)
  back = teacher_lib.from_teacher_space(
    teacher_lib.to_teacher_space(images, scaling), scaling
  )
  np.testing.assert_allclose(back, images, atol=1e-4)
  # And the other way round, on values outside 0..255 (not clipped).
  space = (
    np.random.RandomState(3).normal(0, 300, (2, 4, 4, 3)).astype(np.float32)
  )
  again = teacher_lib.to_teacher_space(
    teacher_lib.from_teacher_space(space, scaling), scaling
  )
  np.testing.assert_allclose(again, space, atol=1e-3)


def test_raw_is_identity():
  images = _images(2, 8)
  np.testing.assert_array_equal(
    teacher_lib.to_teacher_space(images, "raw"), images
  )
  np.testing.assert_array_equal(
    teacher_lib.from_teacher_space(images, "raw"), images
  )


def test_to_uint8_rgb_clips_and_rounds_raw():
  values = np.array(
    [[[[-20.0, 0.4, 0.5], [1.49, 254.5, 254.49], [255.0, 300.0, 127.6]]]],
    np.float32,
  )
  out = teacher_lib.to_uint8_rgb(values, "raw")
  assert out.dtype == tf.uint8
  # tf.round rounds half to even: 0.5 -> 0, 254.5 -> 254.
  np.testing.assert_array_equal(
    out.numpy(), [[[[0, 0, 0], [1, 254, 254], [255, 255, 128]]]]
  )


def test_to_uint8_rgb_caffe():
  # BGR minus the mean: this pixel is RGB (10.4, 300, -5) -> (10, 255, 0).
  bgr = np.array([[[[-5 - 103.939, 300 - 116.779, 10.4 - 123.68]]]], np.float32)
  np.testing.assert_array_equal(
    teacher_lib.to_uint8_rgb(bgr, "caffe").numpy().ravel(), [10, 255, 0]
  )
  rgb = np.uint8(np.random.RandomState(5).randint(0, 256, (2, 4, 4, 3)))
  np.testing.assert_array_equal(
    teacher_lib.to_uint8_rgb(
      teacher_lib.to_teacher_space(rgb, "caffe"), "caffe"
    ),
    rgb,
  )


@pytest.mark.parametrize(
  "function",
  [
    teacher_lib.to_teacher_space,
    teacher_lib.from_teacher_space,
    teacher_lib.to_uint8_rgb,
  ],
)
def test_unknown_scaling_raises(function):
  with pytest.raises(ValueError, match="unknown input scaling 'torch'"):
    function(_images(1, 4), "torch")


# --- weights files --------------------------------------------------------


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_weights_file_round_trip(tmp_path, pooling):
  keras.utils.set_random_seed(7)
  source = teacher_lib.build_vgg19(R)
  path = str(tmp_path / "vgg19.weights.h5")
  source.save_weights(path)
  teacher = teacher_lib.build_teacher(R, weights=path, pooling=pooling)
  reference = teacher_lib.tap_mirror_points(source, pooling)
  fresh = teacher_lib.build_teacher(R, pooling=pooling)  # other random init
  x = teacher_lib.to_teacher_space(_images(2), "caffe")
  got, want, other = teacher(x), reference(x), fresh(x)
  for name in vgg_spec.POINT_NAMES:
    np.testing.assert_array_equal(got[name], want[name], err_msg=name)
  assert not np.allclose(got["block2_conv1"], other["block2_conv1"])


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pretrained_classifier_weights_load_into_the_teacher(tmp_path, pooling):
  """What teacher_pretraining saves (the VGG19 part) loads as a teacher
  with the pooling it was trained with."""
  keras.utils.set_random_seed(3)
  classifier = teacher_pretraining.build_classifier(
    R, {"shape": 4, "size": 2}, pooling=pooling
  )
  assert set(classifier.output) == {"shape", "size"}
  pool_type = {
    "avg": keras.layers.AveragePooling2D,
    "max": keras.layers.MaxPooling2D,
  }[pooling]
  for block in range(1, 6):
    assert isinstance(classifier.get_layer(f"block{block}_pool"), pool_type)
  vgg_part = keras.Model(classifier.input, classifier.get_layer("gap").input)
  path = str(tmp_path / teacher_pretraining.WEIGHTS_NAME)
  vgg_part.save_weights(path)
  teacher = teacher_lib.build_teacher(R, weights=path, pooling=pooling)
  x = teacher_lib.to_teacher_space(_images(2), "caffe")
  np.testing.assert_allclose(
    teacher(x)["block5_pool"], vgg_part(x), rtol=1e-6, atol=1e-6
  )


def _tiny_pretraining(tmp_path, **overrides):
  """A teacher pretraining of 3 steps on 48 tiny shapes images."""
  return config_lib.Config(
    dataset="shapes",
    raw_data_dir=str(tmp_path / "raw"),
    data_dir=str(tmp_path / "records"),
    shapes_num_train=48,
    shapes_num_test=32,
    image_size=R,
    batch_size=4,
    pretrain_steps=3,
    jit_compile="false",
    **overrides,
  )


def test_pretrain_teacher_reports_accuracy_and_caches(tmp_path):
  """A tiny real pretraining: the report has every accuracy and the flags
  that made it, and the cached weights load into the configured teacher."""
  config = _tiny_pretraining(
    tmp_path, precision="float32", teacher_pooling="avg"
  )
  data_dir = preparation.ensure_prepared(config)
  keras.utils.set_random_seed(0)
  workdir = str(tmp_path / "work")
  path = teacher_pretraining.pretrain_teacher(config, workdir, data_dir)
  with open(teacher_pretraining.cached_paths(workdir)[1]) as f:
    report = json.load(f)
  assert report["steps"] == 3
  assert report["settings"]["teacher_pooling"] == "avg"
  # The shapes records carry attributes: one head each, reported per split.
  heads = ["shape", "colour", "size", "position", "background"]
  assert list(report["heads"]) == heads
  test = report["test"]
  assert test["num_examples"] == 32
  # Held-out pairs are in the test split only.
  assert test["num_seen_class_examples"] < 32
  for head in heads:
    for key in ("accuracy", "accuracy_seen_classes", "accuracy_unseen_classes"):
      assert 0.0 <= test[head][key] <= 1.0, (head, key)
  validation = report["validation"]
  assert validation["num_examples"] == validation["num_seen_class_examples"]
  teacher = teacher_lib.build_teacher(R, weights=path, pooling="avg")
  assert isinstance(
    teacher.get_layer("block1_pool"), keras.layers.AveragePooling2D
  )
  # A rerun reuses the cache.
  mtime = os.path.getmtime(path)
  assert teacher_pretraining.pretrain_teacher(config, workdir, data_dir) == path
  assert os.path.getmtime(path) == mtime
  # Other teacher flags: pretrained again, not reused.
  changed = config_lib.Config(**{**config.__dict__, "pretrain_steps": 2})
  assert (
    teacher_pretraining.pretrain_teacher(changed, workdir, data_dir) == path
  )
  with open(teacher_pretraining.cached_paths(workdir)[1]) as f:
    assert json.load(f)["steps"] == 2


def test_teacher_pretraining_stops_on_a_non_finite_step(tmp_path):
  config = _tiny_pretraining(tmp_path, test_poison="teacher_pretrain:2")
  data_dir = preparation.ensure_prepared(config)
  workdir = str(tmp_path / "work")
  with pytest.raises(
    finite_guard.NonFiniteError, match="teacher_pretrain step 2: "
  ):
    teacher_pretraining.pretrain_teacher(config, workdir, data_dir)
  # No cache of the half-trained teacher: a rerun pretrains again.
  assert not os.path.exists(teacher_pretraining.cached_paths(workdir)[0])


def test_random_teacher_is_seeded_saved_once_and_reused(tmp_path):
  """--teacher_weights=random resolves to one saved file, so the text
  encoder and the student distil from the same random VGG19, whatever the
  random state is when each builds it."""
  config = config_lib.Config(teacher_weights="random", image_size=R, seed=4)
  workdir = str(tmp_path / "work")
  path = teacher_pretraining.resolve_teacher_weights(config, workdir, "unused")
  assert teacher_pretraining.teacher_ready(config, workdir)
  mtime = os.path.getmtime(path)
  keras.utils.set_random_seed(99)
  again = teacher_pretraining.resolve_teacher_weights(config, workdir, "unused")
  assert again == path and os.path.getmtime(path) == mtime
  x = teacher_lib.to_teacher_space(_images(2), "caffe")
  first = teacher_lib.build_teacher(R, weights=path)(x)["block3_conv1"]
  second = teacher_lib.build_teacher(R, weights=again)(x)["block3_conv1"]
  np.testing.assert_array_equal(first, second)
  # Another seed, another random teacher beside it.
  other_config = config_lib.Config(
    teacher_weights="random", image_size=R, seed=5
  )
  assert not teacher_pretraining.teacher_ready(other_config, workdir)
  other = teacher_pretraining.resolve_teacher_weights(
    other_config, workdir, "unused"
  )
  assert other != path
  third = teacher_lib.build_teacher(R, weights=other)(x)["block3_conv1"]
  assert not np.allclose(first, third)


def test_identity_is_the_weights_content_and_the_feature_settings(tmp_path):
  keras.utils.set_random_seed(5)
  vgg = teacher_lib.build_vgg19(R)
  a, b = str(tmp_path / "a.weights.h5"), str(tmp_path / "b.weights.h5")
  vgg.save_weights(a)
  vgg.save_weights(b)
  same = teacher_lib.identity(a, R, "avg", "caffe")
  assert teacher_lib.identity(b, R, "avg", "caffe") == same  # by content
  assert teacher_lib.identity(a, R, "max", "caffe") != same
  assert teacher_lib.identity(a, R, "avg", "raw") != same
  assert teacher_lib.identity(a, 2 * R, "avg", "caffe") != same
  vgg.layers[1].kernel.assign(vgg.layers[1].kernel + 1.0)
  vgg.save_weights(b)
  assert teacher_lib.identity(b, R, "avg", "caffe") != same
  assert teacher_lib.identity("imagenet", R, "avg", "caffe").startswith(
    "imagenet"
  )


def test_missing_weights_file_raises(tmp_path):
  with pytest.raises(ValueError):
    teacher_lib.build_teacher(R, weights=str(tmp_path / "nope.weights.h5"))


# --- training leaves the teacher alone -------------------------------------

_EMBED = 8


def _task(**overrides):
  keras.utils.set_random_seed(11)
  settings = dict(
    image_size=R,
    embedding_dim=_EMBED,
    fc_units=8,
    text_encoder="precomputed",
    precision="float32",
    batch_size=2,
    learning_rate=1e-3,
  )
  settings.update(overrides)
  config = config_lib.Config(**settings)
  teacher = teacher_lib.build_teacher(R, pooling=config.teacher_pooling)
  student = student_lib.Student(
    image_size=R,
    embedding_dim=_EMBED,
    noise_dim=config.noise_dim,
    fc_units=config.fc_units,
    normalization=config.normalization,
    conditional_norm=config.conditional_norm,
    name="student",
  )
  generator = generator_lib.TextToImage(
    encoders.PrecomputedEncoder(_EMBED, name="encoder"),
    student,
    name="generator",
  )
  generator.build_for(config.batch_size)
  scales = None
  if config.normalize_points:
    scales = losses_lib.RunningScale(vgg_spec.POINT_NAMES)
  return (
    config,
    teacher,
    generator,
    distillation.DistillationTask(config, teacher, generator, scales),
  )


def _batches(config, count):
  rng = np.random.RandomState(0)
  batch = config.batch_size
  return tf.data.Dataset.from_tensor_slices(
    {
      "image": rng.randint(0, 256, (batch * count, R, R, 3)).astype(np.uint8),
      "embedding": rng.normal(size=(batch * count, _EMBED)).astype(np.float32),
    }
  ).batch(batch, drop_remainder=True)


def test_training_steps_leave_the_teacher_unchanged():
  # Diverse samples and point normalisation on, so that every path of the
  # losses that could touch the teacher runs; the rest is the reference.
  config, teacher, generator, task = _task(
    noise_dim=2,
    num_diverse_samples=2,
    normalize_points=True,
    stage2_stage1_weight=0.5,
  )
  strategy = tf.distribute.get_strategy()
  teacher_before = [v.numpy().copy() for v in teacher.weights]
  student_before = [
    v.numpy().copy() for v in generator.student.trainable_weights
  ]
  assert teacher_before and student_before
  optimizer = keras.optimizers.Adam(config.learning_rate)
  iterator = iter(_batches(config, 4))
  # Stage I XLA-compiled (the default), Stage II as a plain tf.function:
  # both code paths, each compiled once (XLA compiles take a while on CPU).
  for stage, jit_compile in ((1, True), (2, False)):
    step = distillation.make_train_step(
      strategy,
      task,
      optimizer,
      stage,
      config.batch_size,
      jit_compile=jit_compile,
    )
    for _ in range(2):
      logs, applied = step(iterator, tf.constant(False))
      assert bool(applied)
      assert np.isfinite(float(logs["loss"]))
      assert f"stage{stage}/total" in logs
  for before, variable in zip(teacher_before, teacher.weights):
    np.testing.assert_array_equal(
      variable.numpy(), before, err_msg=variable.path
    )
  changed = [
    not np.array_equal(v.numpy(), before)
    for before, v in zip(student_before, generator.student.trainable_weights)
  ]
  # Every student variable gets a gradient in both stages.
  assert all(changed), [
    v.path
    for c, v in zip(changed, generator.student.trainable_weights)
    if not c
  ]
