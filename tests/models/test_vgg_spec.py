"""Tests for sdn_tf.models.vgg_spec, held against Keras' own VGG19."""

import keras
import pytest

from sdn_tf.models import vgg_spec


def _keras_vgg19(image_size):
  return keras.applications.VGG19(
    include_top=False, weights=None, input_shape=(image_size, image_size, 3)
  )


@pytest.fixture(scope="module", params=[64, 128])
def keras_vgg(request):
  return request.param, _keras_vgg19(request.param)


def test_twenty_two_points():
  assert len(vgg_spec.MIRROR_POINTS) == 22
  assert len(vgg_spec.POINT_NAMES) == 22
  assert len(set(vgg_spec.POINT_NAMES)) == 22
  assert vgg_spec.POINT_NAMES[0] == "input"
  assert vgg_spec.POINT_NAMES[-1] == "block5_pool"
  assert set(vgg_spec.POINTS_BY_NAME) == set(vgg_spec.POINT_NAMES)
  kinds = [p.kind for p in vgg_spec.MIRROR_POINTS]
  assert kinds.count("input") == 1
  assert kinds.count("pool") == 5
  assert kinds.count("conv") == 16


def test_names_and_order_are_keras_vgg19_layers(keras_vgg):
  _, vgg = keras_vgg
  keras_names = [layer.name for layer in vgg.layers]
  # The first Keras layer is the InputLayer, whose point is "input".
  assert isinstance(vgg.layers[0], keras.layers.InputLayer)
  assert vgg_spec.POINT_NAMES == ("input",) + tuple(keras_names[1:])


def test_shapes_match_keras_vgg19(keras_vgg):
  image_size, vgg = keras_vgg
  assert vgg_spec.POINTS_BY_NAME["input"].shape(image_size) == (
    image_size,
    image_size,
    3,
  )
  for layer in vgg.layers[1:]:
    point = vgg_spec.POINTS_BY_NAME[layer.name]
    assert point.shape(image_size) == tuple(layer.output.shape[1:]), layer.name
    expected_kind = (
      "pool" if isinstance(layer, keras.layers.MaxPooling2D) else "conv"
    )
    assert point.kind == expected_kind
    if expected_kind == "conv":
      assert point.channels == layer.filters


def test_spec_hand_values():
  p = vgg_spec.POINTS_BY_NAME
  assert p["block1_conv2"].shape(224) == (224, 224, 64)
  assert p["block1_pool"].shape(224) == (112, 112, 64)
  assert p["block3_conv4"].shape(64) == (16, 16, 256)
  assert p["block4_pool"].shape(64) == (4, 4, 512)
  assert p["block5_pool"].shape(224) == (7, 7, 512)
  assert p["block5_pool"].shape(32) == (1, 1, 512)
  assert p["block3_conv2"].block == 3
  assert p["input"].block == 0
  assert p["block2_conv1"].mirror_name == "block2_conv1_mirror"
  assert p["input"].mirror_name == "input_mirror"
  assert vgg_spec.TOTAL_STRIDE == 32


def test_parse_points_all():
  assert vgg_spec.parse_points("all") == vgg_spec.POINT_NAMES
  assert vgg_spec.parse_points(" all ") == vgg_spec.POINT_NAMES
  assert vgg_spec.parse_points("input,all") == vgg_spec.POINT_NAMES


def test_parse_points_blocks():
  assert vgg_spec.parse_points("block1") == (
    "block1_conv1",
    "block1_conv2",
    "block1_pool",
  )
  assert vgg_spec.parse_points("block3") == (
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block3_conv4",
    "block3_pool",
  )
  # Blocks and names mix; the result is in teacher order without repeats.
  assert vgg_spec.parse_points("block5_pool, block2,input,block2_conv1") == (
    "input",
    "block2_conv1",
    "block2_conv2",
    "block2_pool",
    "block5_pool",
  )


def test_parse_points_names_keep_teacher_order():
  assert vgg_spec.parse_points("block4_conv2,input,block1_pool") == (
    "input",
    "block1_pool",
    "block4_conv2",
  )
  assert vgg_spec.parse_points("block5_pool,,") == ("block5_pool",)


@pytest.mark.parametrize(
  "spec,match",
  [
    ("", "empty"),
    (" , ,", "empty"),
    ("block9", "unknown VGG19 block 'block9'"),
    ("block6_conv1", "unknown mirror point 'block6_conv1'"),
    ("fc7", "unknown mirror point 'fc7'"),
    ("Block1", "unknown mirror point 'Block1'"),
    ("block", "unknown mirror point 'block'"),
    ("input,conv", "unknown mirror point 'conv'"),
  ],
)
def test_parse_points_errors(spec, match):
  with pytest.raises(ValueError, match=match):
    vgg_spec.parse_points(spec)


@pytest.mark.parametrize("size", [32, 64, 96, 128, 224, 256])
def test_validate_image_size_accepts_multiples_of_32(size):
  vgg_spec.validate_image_size(size)


@pytest.mark.parametrize("size", [0, -32, 16, 31, 33, 65, 100, 225])
def test_validate_image_size_rejects(size):
  with pytest.raises(ValueError, match=f"multiple of 32.*got {size}"):
    vgg_spec.validate_image_size(size)
