"""--jit_compile=measure: a stage times its step both ways, keeps the faster."""

from absl import logging
import pytest
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.training import xla_choice


class _Clock:
  """A clock that each fake step moves on by that step's cost."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def _fake_step(clock, cost, calls, name):
  def step(value):
    calls.append(name)
    clock.now += cost
    return {"value": value}, tf.constant(True)

  return step


@pytest.mark.parametrize("faster", ["plain", "compiled"])
def test_the_faster_step_is_kept_after_timing_both(faster, monkeypatch):
  lines = []
  monkeypatch.setattr(logging, "info", lambda fmt, *a: lines.append(fmt % a))
  clock, calls = _Clock(), []
  costs = {"plain": 2.0, "compiled": 2.0, faster: 1.0}
  measured = xla_choice.MeasuredStep(
    _fake_step(clock, costs["plain"], calls, "plain"),
    _fake_step(clock, costs["compiled"], calls, "compiled"),
    "stage1",
    clock=clock,
  )
  results = [measured(i) for i in range(20)]
  # Every call is a real step, whichever ran it.
  assert [logs["value"] for logs, _ in results] == list(range(20))
  timed = 2 * xla_choice.TIMED_EACH
  assert calls[: 2 + timed] == ["plain", "compiled"] * (1 + timed // 2)
  assert set(calls[2 + timed :]) == {faster}
  kinds = {"plain": xla_choice.PLAIN, "compiled": xla_choice.COMPILED}
  assert measured.chosen == kinds[faster]
  # The untimed first call of each (tracing, compiling) is not counted.
  assert all(len(s) == xla_choice.TIMED_EACH for s in measured.seconds.values())
  assert len(lines) == 1, lines
  assert lines[0].startswith("--jit_compile=measure: stage1 step ")
  assert lines[0].endswith(f"going on {measured.chosen}")


def test_real_steps_with_and_without_xla_agree():
  variable = tf.Variable(tf.zeros([4]))

  def step(x):
    variable.assign_add(tf.square(x))
    return {"sum": tf.reduce_sum(variable)}, tf.constant(True)

  measured = xla_choice.MeasuredStep(
    tf.function(step), tf.function(step, jit_compile=True), "stage2"
  )
  for _ in range(12):
    logs, applied = measured(tf.ones([4]))
  assert bool(applied)
  assert float(logs["sum"]) == 48.0
  assert measured.chosen in (xla_choice.PLAIN, xla_choice.COMPILED)


@pytest.mark.parametrize(
  "change, steps_left, replicas, expected",
  [
    ({}, xla_choice.MIN_STEPS, 1, True),
    ({}, xla_choice.MIN_STEPS - 1, 1, False),
    ({}, xla_choice.MIN_STEPS, 2, False),
    ({"deterministic": True}, xla_choice.MIN_STEPS, 1, False),
    ({"jit_compile": "false"}, xla_choice.MIN_STEPS, 1, False),
    ({"jit_compile": "true"}, xla_choice.MIN_STEPS, 1, False),
  ],
)
def test_only_long_reproducibility_free_single_replica_loops_measure(
  change, steps_left, replicas, expected
):
  config = Config(**{"jit_compile": "measure", **change})
  assert xla_choice.worth_measuring(config, steps_left, replicas) is expected
