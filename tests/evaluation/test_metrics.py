"""FID, Inception Score and diversity on inputs whose answers are known."""

import numpy as np
import pytest

from sdn_tf.evaluation import metrics


def test_fid_of_a_set_with_itself_is_zero():
  features = np.random.default_rng(0).normal(size=(200, 8))
  assert metrics.fid(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_two_gaussians_has_the_closed_form():
  # Diagonal covariances: Tr(sqrt(C_a C_b)) = sum(sqrt(a_i b_i)), so the
  # distance is |mu_a - mu_b|^2 + sum((sqrt(a_i) - sqrt(b_i))^2).
  mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
  expected = np.sum((mean_a - mean_b) ** 2) + np.sum(
    (np.sqrt(var_a) - np.sqrt(var_b)) ** 2
  )
  got = metrics.frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
  assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_with_full_covariances_matches_a_rotation():
  # Rotating both Gaussians by one orthogonal matrix changes nothing.
  rng = np.random.default_rng(1)
  q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
  mean_a, mean_b = rng.normal(size=4), rng.normal(size=4)
  var_a, var_b = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)
  plain = metrics.frechet_distance(
    mean_a, np.diag(var_a), mean_b, np.diag(var_b)
  )
  rotated = metrics.frechet_distance(
    q @ mean_a, q @ np.diag(var_a) @ q.T, q @ mean_b, q @ np.diag(var_b) @ q.T
  )
  assert rotated == pytest.approx(plain, rel=1e-8)


def test_fid_from_samples_approaches_the_closed_form():
  rng = np.random.default_rng(2)
  a = rng.normal(0.0, 1.0, size=(20000, 2))
  b = rng.normal(3.0, 2.0, size=(20000, 2))
  # 2 * 3^2 for the means, 2 * (2 - 1)^2 for the spreads.
  assert metrics.fid(a, b) == pytest.approx(20.0, rel=0.03)


def test_inception_score_of_identical_predictions_is_one():
  probabilities = np.tile([[0.7, 0.2, 0.1]], (50, 1))
  mean, std = metrics.inception_score(probabilities, splits=10)
  assert mean == pytest.approx(1.0) and std == pytest.approx(0.0)


def test_inception_score_of_n_equally_likely_one_hot_classes_is_n():
  n = 5
  probabilities = np.tile(np.eye(n), (20, 1))  # each split holds each class
  mean, _ = metrics.inception_score(probabilities, splits=10)
  assert mean == pytest.approx(n, rel=1e-6)


def test_inception_score_needs_a_prediction_per_split():
  with pytest.raises(ValueError, match="at least 10 predictions"):
    metrics.inception_score(np.ones((3, 2)) / 2, splits=10)


def test_diversity_is_the_mean_pairwise_distance():
  same = [np.zeros((3, 4)), np.ones((2, 4))]
  assert metrics.diversity(same) == 0.0
  points = [np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])]
  # Pairs: 5, 8, 5.
  assert metrics.diversity(points) == pytest.approx(6.0)
  with pytest.raises(ValueError, match="at least 2 images"):
    metrics.diversity([np.zeros((1, 2))])


def test_r_precision_is_1_when_each_caption_matches_only_its_image():
  features = np.eye(50) + 0.01
  mean, std = metrics.r_precision(features, features * 3.0, candidates=100)
  assert (mean, std) == (1.0, 0.0)


def test_r_precision_is_0_when_every_caption_fits_another_image_best():
  features = np.eye(40)
  shifted = np.roll(features, 1, axis=0)  # caption i embeds like image i-1
  assert metrics.r_precision(features, shifted, candidates=40)[0] == 0.0
  # A matching model that says nothing scores nothing (ties are misses).
  same = np.ones((40, 8))
  assert metrics.r_precision(same, same)[0] == 0.0


def test_r_precision_of_unrelated_embeddings_is_one_in_candidates():
  rng = np.random.default_rng(1)
  images = rng.standard_normal((2000, 16))
  texts = rng.standard_normal((2000, 16))
  mean, _ = metrics.r_precision(images, texts, candidates=10, seed=3)
  assert mean == pytest.approx(0.1, abs=0.02)


def test_r_precision_refuses_mismatched_features():
  with pytest.raises(ValueError, match="N >= 2"):
    metrics.r_precision(np.zeros((4, 3)), np.zeros((5, 3)))
