"""Tests for sdn_tf.models.student: every layer mirrors its teacher layer.

The conv widths are VGG19's (fixed); the fc width and the embedding are
tiny to keep the tests fast.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.models import student as student_lib
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.models import vgg_spec

EMBED = 8
FC = 16


def _student(image_size=32, **kwargs):
  kwargs.setdefault("embedding_dim", EMBED)
  kwargs.setdefault("fc_units", FC)
  return student_lib.Student(image_size=image_size, **kwargs)


def _embedding(batch=2, seed=0):
  return tf.constant(
    np.random.RandomState(seed).normal(size=(batch, EMBED)).astype(np.float32)
  )


@pytest.fixture(scope="module", params=[64, 128])
def student_and_teacher(request):
  image_size = request.param
  keras.utils.set_random_seed(0)
  student = _student(image_size)
  out = student(_embedding(1))
  teacher = teacher_lib.build_teacher(image_size)
  taps = teacher(out["image"], training=False)
  return image_size, student, out, teacher, taps


def test_each_mirror_has_its_teacher_layers_shape(student_and_teacher):
  image_size, _, out, teacher, taps = student_and_teacher
  assert set(out) == set(vgg_spec.POINT_NAMES) | {"image"}
  assert set(taps) == set(vgg_spec.POINT_NAMES)
  for name in vgg_spec.POINT_NAMES:
    assert out[name].shape == taps[name].shape, name
    if name != "input":
      # And the teacher layer's own symbolic output shape.
      want = tuple(teacher.get_layer(name).output.shape[1:])
      assert tuple(out[name].shape[1:]) == want, name
  assert tuple(out["input"].shape) == (1, image_size, image_size, 3)


def test_every_point_has_a_mirror_layer(student_and_teacher):
  _, student, _, _, _ = student_and_teacher
  names = student_lib.mirror_names(student)
  # Top-down: block5_pool (the dense), then every other point to the image.
  assert names == [f"{n}_mirror" for n in reversed(vgg_spec.POINT_NAMES)]
  for point in vgg_spec.MIRROR_POINTS:
    assert student.get_layer(f"{point.name}_mirror").name == point.mirror_name
  assert isinstance(student.get_layer("block5_pool_mirror"), keras.layers.Dense)
  assert student.get_layer("fc7_mirror").units == FC
  assert student.get_layer("fc6_mirror").units == FC


def test_layer_kinds_mirror_the_teacher(student_and_teacher):
  """A pool's mirror up-samples; a conv's mirror is a 3x3 conv."""
  _, student, _, _, _ = student_and_teacher
  for point in vgg_spec.MIRROR_POINTS[:-1]:
    layer = student.get_layer(point.mirror_name)
    above = vgg_spec.MIRROR_POINTS[vgg_spec.POINT_NAMES.index(point.name) + 1]
    if above.kind == "pool":
      assert isinstance(layer, keras.layers.UpSampling2D), point.name
    else:
      assert isinstance(layer, student_lib.MirrorConv), point.name
      assert layer.filters == point.channels
      assert tuple(layer.conv.kernel_size) == (3, 3)
  # The image layer is linear; every other conv ends in a ReLU.
  assert not student.get_layer("input_mirror").activation
  assert student.get_layer("block1_conv1_mirror").activation


def test_image_is_the_input_activation(student_and_teacher):
  _, _, out, _, _ = student_and_teacher
  assert out["image"] is out["input"]
  # Linear output: the image takes negative values (the teacher's caffe
  # space is centred), the ReLU'd activations do not.
  assert float(tf.reduce_min(out["image"])) < 0
  assert float(tf.reduce_min(out["block1_conv1"])) >= 0


@pytest.mark.parametrize(
  "normalization,conditional",
  [
    ("none", False),
    ("batch", False),
    ("instance", False),
    ("batch", True),
    ("instance", True),
  ],
)
def test_normalizations(normalization, conditional):
  keras.utils.set_random_seed(1)
  student = _student(normalization=normalization, conditional_norm=conditional)
  # Spread-out embeddings, so that the drawn images differ clearly.
  embedding = tf.constant(
    np.random.RandomState(1).normal(0, 3, (4, EMBED)).astype(np.float32)
  )
  for training in (True, False):
    out = student(embedding, training=training)
    for point in vgg_spec.MIRROR_POINTS:
      assert tuple(out[point.name].shape) == (4,) + point.shape(32)
      assert np.all(np.isfinite(out[point.name].numpy())), point.name
  conv = student.get_layer("block3_conv2_mirror")
  if normalization == "none":
    assert conv.norm is None
    assert conv.conv.use_bias
  else:
    assert conv.norm.kind == normalization
    assert conv.norm.conditional == conditional
    assert not conv.conv.use_bias
  names = [w.path for w in student.weights]
  if conditional:
    assert any("to_scale" in n for n in names)
    assert any("to_shift" in n for n in names)
  else:
    assert not any("to_scale" in n for n in names)

  # The image layer is a plain linear conv, never normalised: a normalised
  # image layer (instance norm above all) would give every drawn image the
  # same per-channel mean and contrast, which no real image set has.
  assert student.get_layer("input_mirror").norm is None
  assert student.get_layer("input_mirror").conv.use_bias
  image = student(embedding, training=True)["image"].numpy()
  means = image.mean(axis=(1, 2))  # [batch, 3]
  assert np.ptp(means, axis=0).min() > 1e-3 * np.abs(image).mean()

  if normalization == "batch":
    # Moving statistics exist and move in training mode only.
    moving = [
      w for w in student.non_trainable_weights if "moving_mean" in w.path
    ]
    assert len(moving) == 15  # every conv but the image layer
    before = [w.numpy().copy() for w in moving]
    student(embedding, training=False)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, moving))
    student(embedding, training=True)
    assert not all(np.array_equal(b, w.numpy()) for b, w in zip(before, moving))
  if conditional:
    # The zero-initialised text affine starts as plain normalisation;
    # once it is non-zero, the caption modulates the feature maps.
    before = student(embedding)["block2_conv1"].numpy()
    norm = student.get_layer("block2_conv1_mirror").norm
    norm.to_scale.kernel.assign(
      np.random.RandomState(0).normal(size=norm.to_scale.kernel.shape)
    )
    after = student(embedding)["block2_conv1"].numpy()
    assert not np.allclose(before, after)


def test_noise_is_required_and_used():
  keras.utils.set_random_seed(3)
  student = _student(noise_dim=4)
  embedding = _embedding(2)
  with pytest.raises(ValueError, match="needs noise of size 4"):
    student(embedding)
  rng = np.random.RandomState(0)
  z1 = rng.normal(size=(2, 4)).astype(np.float32)
  z2 = rng.normal(size=(2, 4)).astype(np.float32)
  a = student(embedding, z1)["image"].numpy()
  b = student(embedding, z2)["image"].numpy()
  again = student(embedding, z1)["image"].numpy()
  np.testing.assert_array_equal(a, again)
  assert not np.allclose(a, b)
  # The first dense reads [e; z].
  assert student.get_layer("fc7_mirror").kernel.shape == (EMBED + 4, FC)


def test_without_noise_output_is_deterministic(student_and_teacher):
  _, student, out, _, _ = student_and_teacher
  np.testing.assert_array_equal(student(_embedding(1))["image"], out["image"])
  assert student.get_layer("fc7_mirror").kernel.shape == (EMBED, FC)
  # 2 fc + the top dense + 16 convs, each a kernel and a bias.
  assert len(student.trainable_weights) == 2 * (3 + 16)


def test_get_config_round_trip():
  student = _student(
    noise_dim=3,
    normalization="instance",
    conditional_norm=True,
    upsampling="bilinear",
  )
  config = student.get_config()
  for key in (
    "image_size",
    "embedding_dim",
    "noise_dim",
    "fc_units",
    "normalization",
    "conditional_norm",
    "upsampling",
  ):
    assert key in config
  clone = student_lib.Student.from_config(config)
  assert clone.get_config() == config
  assert not student.weights
  student.build_for(2)  # creates the variables
  clone.build_for(1)
  assert student_lib.mirror_names(clone) == student_lib.mirror_names(student)
  assert [w.path for w in clone.weights] == [w.path for w in student.weights]
  assert [tuple(w.shape) for w in clone.weights] == [
    tuple(w.shape) for w in student.weights
  ]


def test_calibrated_outputs():
  """Reported activations are scaled per channel; the data flow is not."""
  keras.utils.set_random_seed(6)
  student = _student(calibrated_outputs=True, normalization="batch")
  embedding = _embedding(2)
  before = student(embedding)
  teacher = teacher_lib.build_teacher(32)
  real = teacher(
    teacher_lib.to_teacher_space(
      np.random.RandomState(0).uniform(0, 255, (3, 32, 32, 3)), "caffe"
    )
  )
  student.calibrate(real)
  after = student(embedding)
  image = real["input"].numpy()
  np.testing.assert_allclose(
    student.image_shift.numpy(), image.mean(axis=(0, 1, 2)), rtol=1e-5
  )
  for name in vgg_spec.POINT_NAMES:
    value = real[name].numpy()
    if name == "input":
      spread = value.std(axis=(0, 1, 2))
    else:
      spread = np.sqrt((value**2).mean(axis=(0, 1, 2)))
    scale = np.maximum(spread, 1e-3)
    np.testing.assert_allclose(
      student.output_scales[name].numpy(), scale, rtol=1e-4, err_msg=name
    )
    shift = student.image_shift.numpy() if name == "input" else 0.0
    np.testing.assert_allclose(
      after[name],
      before[name].numpy() * scale + shift,
      rtol=1e-4,
      atol=1e-3,
      err_msg=name,
    )
  assert after["image"] is after["input"]
  with pytest.raises(ValueError, match="without calibrated outputs"):
    _student().calibrate(real)


def test_upsampling_option():
  student = _student(upsampling="bilinear")
  assert student.get_layer("block5_conv4_mirror").interpolation == "bilinear"
  student = _student()
  assert student.get_layer("block5_conv4_mirror").interpolation == "nearest"


def test_mixed_bfloat16():
  keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    keras.utils.set_random_seed(5)
    student = _student(
      noise_dim=2, normalization="batch", conditional_norm=True
    )
    out = student(_embedding(2), np.zeros((2, 2), np.float32), training=True)
    for point in vgg_spec.MIRROR_POINTS:
      assert out[point.name].dtype == tf.bfloat16, point.name
      assert tuple(out[point.name].shape) == (2,) + point.shape(32)
      assert np.all(
        np.isfinite(tf.cast(out[point.name], tf.float32).numpy())
      ), point.name
    assert all(w.dtype == "float32" for w in student.weights)
    # The drawn image goes through a bf16 teacher too (Stage II).
    teacher = teacher_lib.build_teacher(32)
    taps = teacher(out["image"], training=False)
    assert taps["block5_pool"].dtype == tf.bfloat16
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize(
  "kwargs,match",
  [
    (dict(image_size=48), "multiple of 32"),
    (dict(image_size=16), "multiple of 32"),
    (dict(normalization="layer"), "unknown normalisation 'layer'"),
    (dict(upsampling="bicubic"), "unknown up-sampling 'bicubic'"),
    (dict(conditional_norm=True), "conditional normalisation needs"),
  ],
)
def test_bad_args_raise(kwargs, match):
  with pytest.raises(ValueError, match=match):
    _student(**kwargs)


def test_conditional_normalization_rejects_unknown_kind():
  with pytest.raises(ValueError, match="unknown normalisation 'group'"):
    student_lib.ConditionalNormalization("group", conditional=False)
