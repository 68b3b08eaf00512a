"""Timing a step: warm-up, then each timed call on its own, summarised."""

import time
from typing import Callable
from typing import Dict
from typing import List

import numpy as np


def summarize(seconds: List[float]) -> Dict[str, float]:
  values = np.asarray(seconds, np.float64)
  return {
    "median": float(np.median(values)),
    "min": float(values.min()),
    "max": float(values.max()),
    # Relative spread of the middle half: robust to one slow outlier.
    "iqr_over_median": float(
      (np.percentile(values, 75) - np.percentile(values, 25))
      / np.median(values)
    ),
    "count": int(values.size),
  }


def time_calls(
  step: Callable[[], object], warmup: int, steps: int
) -> Dict[str, float]:
  """Runs `step` `warmup` times untimed, then `steps` times, each timed.

  `step` must block until its work is done (e.g. end in `.numpy()`).
  """
  for _ in range(warmup):
    step()
  seconds = []
  for _ in range(steps):
    start = time.perf_counter()
    step()
    seconds.append(time.perf_counter() - start)
  return summarize(seconds)
