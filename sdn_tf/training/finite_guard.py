"""Non-finite losses and gradients, caught before the update is applied.

Inside the compiled step, `apply_if_finite` applies the gradients only when
the loss and every gradient are finite on every replica; otherwise the
weights and the optimizer's moments stay as they were and only the step
counter moves (so the schedule and the loop's step number stay aligned).
On the host, `NonFiniteSteps` turns what the step reports into the
`--on_non_finite` policy: stop with a message naming the stage and step, or
skip the step, count it and go on.

`--test_poison=WHAT:STEP` (tests only) multiplies the loss of one step by
NaN, the way a bad batch or an overflow would poison it.
"""

from typing import Callable
from typing import Dict
from typing import Optional
from typing import Sequence

from absl import logging
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.config import parse_poison

STOP = "stop"


class NonFiniteError(FloatingPointError):
  """Training met a non-finite loss or gradient under --on_non_finite=stop."""


def all_finite(loss: tf.Tensor, gradients: Sequence[tf.Tensor]) -> tf.Tensor:
  checks = [tf.reduce_all(tf.math.is_finite(loss))]
  checks += [
    tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None
  ]
  return tf.reduce_all(tf.stack(checks))


def poisoned(loss: tf.Tensor, poison: tf.Tensor) -> tf.Tensor:
  """`loss`, or NaN where `poison` (a bool scalar) is true."""
  return loss * tf.where(poison, float("nan"), 1.0)


def apply_if_finite(
  optimizer,
  gradients: Sequence[tf.Tensor],
  variables: Sequence[tf.Variable],
  finite: tf.Tensor,
  after_apply: Optional[Callable[[], None]] = None,
) -> tf.Tensor:
  """Applies `gradients` when `finite` holds on every replica; the verdict.

  Call in a replica context (inside `strategy.run`, or outside any
  strategy). `after_apply` runs only with the update (e.g. assigning
  running statistics the step computed).
  """
  context = tf.distribute.get_replica_context()
  non_finite = context.all_reduce(
    tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32)
  )
  finite = tf.equal(non_finite, 0.0)

  def apply(grads):
    optimizer.apply_gradients(zip(grads, variables))
    if after_apply is not None:
      after_apply()

  def skip():
    optimizer.iterations.assign_add(1)
    return tf.constant(False)

  if tf.__internal__.distribute.strategy_supports_no_merge_call():

    def apply_here():
      apply(gradients)
      return tf.constant(True)

    return tf.cond(finite, apply_here, skip)

  # Strategies whose optimizer update needs a merge_call (Mirrored) cannot
  # take it inside a replica-context cond: branch in cross-replica context,
  # as Keras' LossScaleOptimizer does.
  def branch(strategy, grads, verdict):
    verdict = strategy.experimental_local_results(verdict)[0]

    def apply_everywhere():
      strategy.extended.call_for_each_replica(apply, args=(grads,))
      return tf.constant(True)

    return tf.cond(verdict, apply_everywhere, skip)

  return context.merge_call(branch, args=(list(gradients), finite))


class NonFiniteSteps:
  """Host side of the guard: the policy, the count and the poison step."""

  def __init__(self, config: Config, what: str, already_skipped: int = 0):
    self.policy = config.on_non_finite
    self.what = what
    self.skipped = already_skipped  # by the run this one resumes
    target, step = parse_poison(config.test_poison)
    self._poison_step = step if target == what else None

  def poison(self, step: int) -> tf.Tensor:
    """The bool to pass to the step that becomes step number `step`."""
    return tf.constant(step == self._poison_step)

  def check(self, applied: bool, step: int) -> bool:
    """True when the step was applied; counts or raises when it was not."""
    if applied:
      return True
    if self.policy == STOP:
      raise NonFiniteError(
        f"{self.what} step {step}: the loss or a gradient is NaN or Inf. "
        f"The update was not applied and no checkpoint holds it; lower the "
        f"learning rate, or pass --on_non_finite=skip to skip such steps"
      )
    self.skipped += 1
    logging.warning(
      "%s step %d: non-finite loss or gradient, step skipped (%d so far)",
      self.what,
      step,
      self.skipped,
    )
    return False

  def scalars(self) -> Dict[str, float]:
    return {"skipped_steps": float(self.skipped)}
