"""Tests for sdn_tf.training.losses, against values worked out by hand."""

import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.training import losses

# Two examples of 2x1x2 "activations".
A = np.array(
  [[[[1.0, -2.0]], [[0.0, 4.0]]], [[[3.0, 3.0]], [[-1.0, 0.5]]]], np.float32
)
B = np.array(
  [[[[0.0, 0.0]], [[2.0, 1.0]]], [[[3.0, 1.0]], [[1.0, 0.5]]]], np.float32
)
# |A - B| = [[1, 2, 2, 3], [0, 2, 2, 0]]; squares [[1, 4, 4, 9], [0, 4, 4, 0]].
L1 = [8 / 4, 4 / 4]
L2 = [18 / 4, 8 / 4]


def test_point_distance_l1_by_hand():
  np.testing.assert_allclose(losses.point_distance(A, B, "l1"), L1)
  np.testing.assert_allclose(losses.point_distance(A, B), L1)  # default


def test_point_distance_l2_by_hand():
  np.testing.assert_allclose(losses.point_distance(A, B, "l2"), L2)


def test_point_distance_shapes_and_dtypes():
  # Rank 2 inputs, bfloat16 predictions against float32 targets.
  out = losses.point_distance(
    tf.constant([[1.0, 3.0], [2.0, 2.0]], tf.bfloat16),
    tf.constant([[0.0, 0.0], [2.0, 5.0]]),
  )
  assert out.dtype == tf.float32
  np.testing.assert_allclose(out, [2.0, 1.5])
  assert losses.point_distance(A, A).shape == (2,)
  np.testing.assert_array_equal(losses.point_distance(A, A), [0.0, 0.0])


def test_point_distance_symmetric_and_per_example():
  np.testing.assert_allclose(losses.point_distance(B, A), L1)
  # Each example's distance depends on that example only.
  np.testing.assert_allclose(losses.point_distance(A[1:], B[1:]), L1[1:])


def test_point_distance_unknown():
  with pytest.raises(ValueError, match="unknown distance 'l3'"):
    losses.point_distance(A, B, "l3")


def _pair():
  predicted = {
    "input": tf.constant(A),
    "block1_conv1": tf.constant([[1.0], [5.0]]),
    "block5_pool": tf.constant([[0.0], [0.0]]),
  }
  target = {
    "input": tf.constant(B),
    "block1_conv1": tf.constant([[3.0], [5.0]]),
    "block5_pool": tf.constant([[9.0], [9.0]]),
  }
  return predicted, target


def test_multi_level_loss_weights_by_hand():
  predicted, target = _pair()
  # block5_pool is not in the weights, so it does not count.
  total, terms = losses.multi_level_loss(
    predicted, target, {"input": 0.5, "block1_conv1": 2.0}
  )
  # input: [2, 1] * 0.5; block1_conv1: [2, 0] * 2.
  np.testing.assert_allclose(total, [1.0 + 4.0, 0.5 + 0.0])
  assert set(terms) == {"input", "block1_conv1"}
  np.testing.assert_allclose(terms["input"], L1)
  np.testing.assert_allclose(terms["block1_conv1"], [2.0, 0.0])


def test_multi_level_loss_l2_and_scales_by_hand():
  predicted, target = _pair()
  scales = {
    "input": tf.constant(4.0),
    "block1_conv1": tf.constant(0.5),
    "block5_pool": tf.constant(100.0),
  }
  total, terms = losses.multi_level_loss(
    predicted, target, {"input": 1.0, "block1_conv1": 3.0}, "l2", scales
  )
  # l2 terms are divided by the squared scale (the distance of x / scale):
  # input: [4.5, 2] / 16; block1_conv1: [4, 0] / 0.25 * 3.
  np.testing.assert_allclose(total, [4.5 / 16 + 48.0, 2 / 16 + 0.0])
  # The terms are unweighted and unscaled.
  np.testing.assert_allclose(terms["input"], L2)
  np.testing.assert_allclose(terms["block1_conv1"], [4.0, 0.0])


def test_multi_level_loss_distance_per_point_by_hand():
  predicted, target = _pair()
  scales = {"input": tf.constant(2.0), "block1_conv1": tf.constant(0.5)}
  total, terms = losses.multi_level_loss(
    predicted,
    target,
    {"input": 1.0, "block1_conv1": 3.0},
    {"input": "l2", "block1_conv1": "l1"},
    scales,
  )
  # input: l2 [4.5, 2] / 2^2; block1_conv1: l1 [2, 0] / 0.5 * 3.
  np.testing.assert_allclose(total, [4.5 / 4 + 12.0, 2 / 4 + 0.0])
  np.testing.assert_allclose(terms["input"], L2)
  np.testing.assert_allclose(terms["block1_conv1"], [2.0, 0.0])


def test_multi_level_loss_gradient_reaches_predictions_only_weighted():
  predicted, target = _pair()
  x = tf.Variable([[1.0], [5.0]])
  with tf.GradientTape() as tape:
    total, _ = losses.multi_level_loss(
      dict(predicted, block1_conv1=x), target, {"block1_conv1": 3.0}
    )
    loss = tf.reduce_sum(total)
  # d/dx 3 * |x - t| = 3 * sign(x - t): -3 for the first, 0 at equality.
  np.testing.assert_allclose(tape.gradient(loss, x), [[-3.0], [0.0]])


def test_min_over_samples_k1_is_identity():
  per_sample = tf.constant([3.0, 1.0, 2.0])
  out = losses.min_over_samples(per_sample, 1, mean_weight=0.5)
  np.testing.assert_array_equal(out, [3.0, 1.0, 2.0])


def test_min_over_samples_k3_by_hand():
  captions = tf.constant([10.0, 20.0])
  # tf.repeat lays out each caption's K samples next to each other.
  repeated = tf.repeat(captions, 3, axis=0)
  np.testing.assert_array_equal(repeated, [10, 10, 10, 20, 20, 20])
  per_sample = repeated + tf.constant([3.0, 1.0, 2.0, 0.0, 6.0, 9.0])
  out = losses.min_over_samples(per_sample, 3, mean_weight=0.1)
  # Caption 0: min 11, mean 12; caption 1: min 20, mean 25.
  np.testing.assert_allclose(out, [11.0 + 1.2, 20.0 + 2.5], rtol=1e-6)
  np.testing.assert_allclose(
    losses.min_over_samples(per_sample, 3), [11.0, 20.0]
  )


def test_min_over_samples_gradient():
  per_sample = tf.Variable([3.0, 1.0, 2.0, 0.0, 6.0, 9.0])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(losses.min_over_samples(per_sample, 3, 0.3))
  # The best sample gets 1 + 0.3/3, the others 0.3/3.
  np.testing.assert_allclose(
    tape.gradient(loss, per_sample), [0.1, 1.1, 0.1, 1.1, 0.1, 0.1], rtol=1e-6
  )


def test_running_scale_first_batch_sets_the_mean():
  scale = losses.RunningScale(["input", "block1_pool"], momentum=0.9)
  out = scale.update(
    {
      "input": tf.constant([[-2.0, 4.0]]),
      "block1_pool": tf.constant([[1.0, 1.0, 4.0]]),
    }
  )
  np.testing.assert_allclose(out["input"], 3.0)
  np.testing.assert_allclose(out["block1_pool"], 2.0)
  np.testing.assert_allclose(scale.mean_of("input").numpy(), 3.0)
  assert float(scale.count.numpy()) == 1.0


def test_running_scale_moves_by_momentum():
  scale = losses.RunningScale(["input"], momentum=0.9)
  scale.update({"input": tf.constant([3.0])})
  out = scale.update({"input": tf.constant([-13.0])})
  np.testing.assert_allclose(out["input"], 0.9 * 3 + 0.1 * 13, rtol=1e-6)
  out = scale.update({"input": tf.constant([0.0])})
  np.testing.assert_allclose(out["input"], 0.9 * 4.0, rtol=1e-6)
  assert float(scale.count.numpy()) == 3.0


def test_running_scale_positive():
  scale = losses.RunningScale(["input"])
  out = scale.update({"input": tf.zeros([2, 3])})
  assert float(out["input"]) > 0
  np.testing.assert_allclose(out["input"], 1e-6)


def test_running_scale_in_a_tf_function():
  scale = losses.RunningScale(["input"], momentum=0.5)
  update = tf.function(lambda x: scale.update({"input": x})["input"])
  np.testing.assert_allclose(update(tf.constant([2.0])), 2.0)
  np.testing.assert_allclose(update(tf.constant([4.0])), 3.0)


def test_running_scale_stops_gradients():
  scale = losses.RunningScale(["input"], momentum=0.5)
  x = tf.Variable([[1.0, -3.0]])
  for _ in range(2):  # the first batch and a momentum update
    with tf.GradientTape() as tape:
      out = scale.update({"input": x * 2.0})
      loss = out["input"] * 5.0
    assert tape.gradient(loss, x) is None
  # Its variables are not trained.
  assert scale.trainable_weights == []
  assert len(scale.non_trainable_weights) == 2


def test_running_scale_config():
  scale = losses.RunningScale(
    ["input", "block2_pool"], momentum=0.7, name="scales"
  )
  clone = losses.RunningScale.from_config(scale.get_config())
  assert clone.point_names == ("input", "block2_pool")
  assert clone.momentum == 0.7


def test_running_scale_blend_is_pure_and_assign_stores():
  scale = losses.RunningScale(["input"], momentum=0.75)
  scale.update({"input": tf.constant([8.0])})
  blended = scale.blend({"input": tf.constant([-4.0])})
  np.testing.assert_allclose(blended["input"], 0.75 * 8 + 0.25 * 4)
  # blend alone changes nothing (it runs inside a compiled step).
  np.testing.assert_allclose(scale.mean_of("input").numpy(), 8.0)
  assert float(scale.count.numpy()) == 1.0
  scale.assign(blended)
  np.testing.assert_allclose(scale.mean_of("input").numpy(), 7.0)
  assert float(scale.count.numpy()) == 2.0
