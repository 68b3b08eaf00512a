"""Tests for sdn_tf.evaluation.linear_probe on data with known answers."""

import numpy as np
import pytest

from sdn_tf.evaluation import linear_probe


def test_a_linearly_stated_attribute_is_read_exactly():
  rng = np.random.default_rng(0)
  labels = rng.integers(3, size=300)
  directions = rng.normal(size=(3, 8))
  features = directions[labels] + 0.05 * rng.normal(size=(300, 8))
  weights = linear_probe.fit(features[:200], labels[:200])
  assert linear_probe.accuracy(weights, features[200:], labels[200:]) == 1.0


def test_an_attribute_the_features_do_not_hold_is_at_chance():
  rng = np.random.default_rng(1)
  labels = rng.integers(2, size=2000)
  features = rng.normal(size=(2000, 8))
  weights = linear_probe.fit(features[:1000], labels[:1000])
  assert 0.4 < linear_probe.accuracy(weights, features[1000:], labels[1000:])
  assert linear_probe.accuracy(weights, features[1000:], labels[1000:]) < 0.6


def test_an_xor_is_not_linearly_stated():
  """The probe is linear: two bits' parity is beyond it."""
  bits = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 50, dtype=float)
  parity = (bits[:, 0] != bits[:, 1]).astype(int)
  weights = linear_probe.fit(bits, parity)
  assert linear_probe.accuracy(weights, bits, parity) <= 0.75


def test_unnamed_labels_are_left_out():
  features = np.array([[1.0], [-1.0], [5.0], [0.0]])
  labels = np.array([1, 0, -1, -1])
  weights = linear_probe.fit(features, labels)
  assert linear_probe.accuracy(weights, features, labels) == 1.0
  assert linear_probe.accuracy(weights, features, -np.ones(4, int)) is None
  with pytest.raises(ValueError, match="no example names"):
    linear_probe.fit(features, -np.ones(4, int))
