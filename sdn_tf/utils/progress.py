"""Progress lines with rate and ETA for long loops (training, generation)."""

import time
from typing import Mapping
from typing import Optional


def format_duration(seconds: float) -> str:
  """'1h02m', '3m05s' or '42s'."""
  seconds = int(max(seconds, 0))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  if minutes:
    return f"{minutes}m{secs:02d}s"
  return f"{secs}s"


def seconds_left(done: float, total: float, rate: float) -> Optional[float]:
  """Time to go from `done` to `total` at `rate` per second; None if unknown."""
  if rate <= 0:
    return None
  return max(0.0, (total - done) / rate)


class RateMeter:
  """Steps per second over the window since the last `tick`."""

  def __init__(self, step: int = 0):
    self._step = step
    self._time = time.monotonic()
    self.steps_per_sec = 0.0

  def tick(self, step: int) -> float:
    now = time.monotonic()
    if step > self._step and now > self._time:
      self.steps_per_sec = (step - self._step) / (now - self._time)
    self._step, self._time = step, now
    return self.steps_per_sec

  def eta(self, step: int, total: int) -> Optional[float]:
    return seconds_left(step, total, self.steps_per_sec)


def progress_line(
  prefix: str,
  step: int,
  total: int,
  values: Mapping[str, float],
  rate: float,
  items_per_step: int,
  eta: Optional[float],
  unit: str = "img",
) -> str:
  """'stage1 120/1000 loss=3.210 ... | 45.1 img/s | ETA 3m12s'."""
  shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
  eta_text = format_duration(eta) if eta is not None else "?"
  return (
    f"{prefix} {step}/{total} {shown} | {rate * items_per_step:.1f} "
    f"{unit}/s | ETA {eta_text}"
  )
