"""The numbers image-synthesis papers report, from features and predictions.

Pure numpy, so they can be checked on known answers: FID (Heusel et al.,
2017) between two sets of features, Inception Score (Salimans et al., 2016)
of class predictions over splits, diversity as the mean pairwise
distance between images drawn for one caption, and R-precision (Xu et
al., 2018) from image and caption embeddings of a matching model.
"""

from typing import Sequence
from typing import Tuple

import numpy as np


def feature_statistics(features: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """Mean [F] and covariance [F, F] (unbiased) of features [N, F]."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(
      f"need at least 2 feature vectors [N, F], got shape {features.shape}"
    )
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(
  mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
  """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)).

  Tr((C_a C_b)^(1/2)) is the sum of the square roots of the eigenvalues of
  C_a^(1/2) C_b C_a^(1/2), which is symmetric PSD and has the eigenvalues
  of C_a C_b: no complex square roots to round away.
  """
  root_a = _psd_sqrt(cov_a)
  middle = root_a @ cov_b @ root_a
  eigenvalues = np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)
  trace_root = float(np.sum(np.sqrt(eigenvalues)))
  diff = np.asarray(mean_a, np.float64) - np.asarray(mean_b, np.float64)
  value = float(
    diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
  )
  return max(value, 0.0)


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """FID between two sets of features [N, F] and [M, F]."""
  return frechet_distance(
    *feature_statistics(features_a), *feature_statistics(features_b)
  )


def inception_score(
  probabilities: np.ndarray, splits: int = 10
) -> Tuple[float, float]:
  """exp(E_x KL(p(y|x) || p(y))): mean and standard deviation over `splits`
  equal parts, as in Salimans et al.'s code."""
  probabilities = np.asarray(probabilities, np.float64)
  if probabilities.ndim != 2 or len(probabilities) < splits:
    raise ValueError(
      f"need at least {splits} predictions [N, classes], got shape "
      f"{probabilities.shape}"
    )
  scores = []
  for part in np.array_split(probabilities, splits):
    marginal = part.mean(axis=0, keepdims=True)
    kl = part * (np.log(part + 1e-12) - np.log(marginal + 1e-12))
    scores.append(np.exp(kl.sum(axis=1).mean()))
  return float(np.mean(scores)), float(np.std(scores))


def diversity(features_per_caption: Sequence[np.ndarray]) -> float:
  """Mean Euclidean distance between the features of two images drawn for
  the same caption (each item [K, F], K >= 2 seeds), over all pairs."""
  distances = []
  for features in features_per_caption:
    features = np.asarray(features, np.float64)
    if len(features) < 2:
      raise ValueError("diversity needs at least 2 images per caption")
    diff = features[:, None, :] - features[None, :, :]
    pairwise = np.sqrt((diff**2).sum(-1))
    upper = np.triu_indices(len(features), k=1)
    distances.extend(pairwise[upper].tolist())
  return float(np.mean(distances)) if distances else 0.0


def r_precision(
  image_features: np.ndarray,
  text_features: np.ndarray,
  candidates: int = 100,
  splits: int = 10,
  seed: int = 0,
) -> Tuple[float, float]:
  """R-precision with R = 1, as AttnGAN reports it: for each image, its own
  caption and `candidates - 1` captions of other images are ranked by
  cosine similarity to the image; a hit when its own ranks first. Mean and
  standard deviation over `splits` equal parts of the images.

  Args:
    image_features: [N, F], row i drawn from caption i.
    text_features: [N, F], caption i's embedding.
    candidates: captions ranked per image (fewer when N is smaller).
  """
  images = np.asarray(image_features, np.float64)
  texts = np.asarray(text_features, np.float64)
  if images.ndim != 2 or images.shape != texts.shape or len(images) < 2:
    raise ValueError(
      "need matching [N, F] image and text features with N >= 2, got "
      f"{images.shape} and {texts.shape}"
    )
  images /= np.linalg.norm(images, axis=1, keepdims=True) + 1e-12
  texts /= np.linalg.norm(texts, axis=1, keepdims=True) + 1e-12
  n = len(images)
  others = min(candidates, n) - 1
  rng = np.random.default_rng(seed)
  hits = np.zeros(n, bool)
  for i in range(n):
    pool = rng.choice(n - 1, size=others, replace=False)
    wrong = pool + (pool >= i)  # indices other than i
    similarities = texts[np.concatenate([[i], wrong])] @ images[i]
    # Ties count against the image: a constant embedding scores 0.
    hits[i] = similarities[0] > similarities[1:].max()
  parts = [part.mean() for part in np.array_split(hits, min(splits, n))]
  return float(np.mean(parts)), float(np.std(parts))
