"""`--jit_compile=measure`: a long training loop (Stage I, Stage II, the
teacher's pretraining) times its own step with and without XLA, and keeps
the faster.

On CPUs in float32 XLA made the step faster on one machine and slower on
another (docs/PERFORMANCE.md), so only a measurement decides it; `auto`
does not measure, since a main job trained with XLA drew worse
(docs/RESULTS.md). The measured steps are real training steps: what the
measurement costs is one extra compilation and a few steps of the slower
kind.
"""

import statistics
import time
from typing import Callable
from typing import Dict
from typing import List

from absl import logging

# Shorter stages keep the static choice (no XLA): compiling twice would
# cost more than the faster kind of step could win back.
MIN_STEPS = 500
PLAIN, COMPILED = "without XLA", "with XLA"
# One untimed call each (tracing, compiling), then timed calls alternately.
_WARM_UP = (PLAIN, COMPILED)
TIMED_EACH = 3


def worth_measuring(config, steps_left: int, replicas: int = 1) -> bool:
  """Whether a loop of `steps_left` steps under `config` should measure."""
  return (
    config.jit_compile == "measure"
    and steps_left >= MIN_STEPS
    # A choice made by the clock would make the run irreproducible.
    and not config.deterministic
    # XLA compiles a step only on one replica (distillation.py).
    and replicas == 1
  )


class MeasuredStep:
  """Calls like a train step; picks which of two it runs, by their times.

  `plain` and `compiled` are the same step without and with XLA, each
  returning (logs, applied); `applied` is read to wait for the step.
  """

  def __init__(
    self,
    plain: Callable,
    compiled: Callable,
    what: str,
    clock: Callable[[], float] = time.monotonic,
  ):
    self._steps = {PLAIN: plain, COMPILED: compiled}
    self._what = what
    self._clock = clock
    self._calls = 0
    self.seconds: Dict[str, List[float]] = {PLAIN: [], COMPILED: []}
    self.chosen = None

  def _next_kind(self) -> str:
    if self._calls < len(_WARM_UP):
      return _WARM_UP[self._calls]
    return (PLAIN, COMPILED)[(self._calls - len(_WARM_UP)) % 2]

  def __call__(self, *args):
    if self.chosen:
      return self._steps[self.chosen](*args)
    kind = self._next_kind()
    start = self._clock()
    logs, applied = self._steps[kind](*args)
    bool(applied)  # waits for the step
    if self._calls >= len(_WARM_UP):
      self.seconds[kind].append(self._clock() - start)
    self._calls += 1
    if all(len(s) == TIMED_EACH for s in self.seconds.values()):
      self._choose()
    return logs, applied

  def _choose(self) -> None:
    median = {k: statistics.median(v) for k, v in self.seconds.items()}
    self.chosen = min(median, key=median.get)
    logging.info(
      "--jit_compile=measure: %s step %.3f s with XLA, %.3f s without "
      "(median of %d each): going on %s",
      self._what,
      median[COMPILED],
      median[PLAIN],
      TIMED_EACH,
      self.chosen,
    )
