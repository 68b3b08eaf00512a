"""A linear probe: how much of an attribute a representation states plainly.

Fits one-hot targets by ridge regression (closed form) and classifies by the
largest output. Used to ask whether a caption encoder's embedding names an
attribute in a direction the student can read, for word pairs it saw and
for pairs it never saw together (tools/probe_text_encoders.py).
"""

import numpy as np


def fit(features: np.ndarray, labels: np.ndarray, ridge: float = 1e-2):
  """Weights [D + 1, classes] mapping `features` [N, D] to `labels` [N].

  Labels < 0 (the attribute is not named) are left out of the fit.
  """
  named = labels >= 0
  if not named.any():
    raise ValueError("no example names the attribute: nothing to fit")
  x = _with_bias(features[named].astype(np.float64))
  y = np.eye(int(labels[named].max()) + 1)[labels[named]]
  return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)


def accuracy(weights: np.ndarray, features: np.ndarray, labels: np.ndarray):
  """Share of the examples naming the attribute that the probe gets right;
  None when none names it."""
  named = labels >= 0
  if not named.any():
    return None
  predicted = (_with_bias(features[named]) @ weights).argmax(axis=1)
  return float(np.mean(predicted == labels[named]))


def _with_bias(features: np.ndarray) -> np.ndarray:
  return np.concatenate([features, np.ones((len(features), 1))], axis=1)
