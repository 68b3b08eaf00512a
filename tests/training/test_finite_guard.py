"""Tests for the non-finite guard: a poisoned step leaves weights and the
optimizer's moments untouched under every strategy code path, and the
host-side policy stops or counts."""

from absl import logging
import keras
import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.config import ConfigError
from sdn_tf.training import finite_guard

STRATEGIES = {
  # No merge call needed: the guard branches inside the replica.
  "default": tf.distribute.get_strategy,
  "one_device": lambda: tf.distribute.OneDeviceStrategy("/cpu:0"),
  # Mirrored's optimizer update needs a merge call: the guard branches in
  # cross-replica context instead.
  "mirrored": lambda: tf.distribute.MirroredStrategy(["/cpu:0"]),
}


def _model_and_step(strategy):
  with strategy.scope():
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    optimizer = keras.optimizers.Adam(0.1)
    optimizer.build(layer.trainable_variables)

  def replica_step(x, poison):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(layer(x)))
      loss = finite_guard.poisoned(loss, poison)
    gradients = tape.gradient(loss, layer.trainable_variables)
    return finite_guard.apply_if_finite(
      optimizer,
      gradients,
      layer.trainable_variables,
      finite_guard.all_finite(loss, gradients),
    )

  @tf.function
  def step(x, poison):
    applied = strategy.run(replica_step, args=(x, poison))
    return strategy.experimental_local_results(applied)[0]

  return layer, optimizer, step


def _state(layer, optimizer):
  return [v.numpy().copy() for v in layer.weights + optimizer.variables]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_poisoned_step_changes_nothing_but_the_step_count(name):
  layer, optimizer, step = _model_and_step(STRATEGIES[name]())
  x = tf.ones([2, 4])
  assert bool(step(x, tf.constant(False)))
  before = _state(layer, optimizer)
  assert int(optimizer.iterations.numpy()) == 1

  assert not bool(step(x, tf.constant(True)))
  assert int(optimizer.iterations.numpy()) == 2
  after = _state(layer, optimizer)
  # The iteration counter is among the optimizer's variables; all the rest
  # (kernel, bias, both Adam moments) are as they were.
  changed = [not np.array_equal(a, b) for a, b in zip(before, after)]
  assert sum(changed) == 1, changed

  # And training goes on from there.
  assert bool(step(x, tf.constant(False)))
  assert not np.array_equal(layer.kernel.numpy(), before[0])


def test_an_inf_gradient_with_a_finite_loss_is_caught():
  loss = tf.constant(1.0)
  assert bool(finite_guard.all_finite(loss, [tf.ones([2]), None]))
  assert not bool(
    finite_guard.all_finite(loss, [tf.constant([1.0, np.inf]), None])
  )


def test_stop_policy_names_the_stage_and_step():
  guard = finite_guard.NonFiniteSteps(Config(), "stage1")
  assert guard.check(True, 7)
  with pytest.raises(finite_guard.NonFiniteError, match="stage1 step 8: "):
    guard.check(False, 8)


def test_skip_policy_counts_and_logs(monkeypatch):
  warnings = []
  monkeypatch.setattr(
    logging, "warning", lambda fmt, *args: warnings.append(fmt % args)
  )
  guard = finite_guard.NonFiniteSteps(
    Config(on_non_finite="skip"), "text_pretrain"
  )
  assert not guard.check(False, 3)
  assert not guard.check(False, 9)
  assert guard.scalars() == {"skipped_steps": 2.0}
  assert warnings[-1] == (
    "text_pretrain step 9: non-finite loss or gradient, step skipped (2 so far)"
  )


def test_a_resumed_guard_counts_on_from_the_saved_count():
  guard = finite_guard.NonFiniteSteps(Config(on_non_finite="skip"), "stage1", 4)
  assert not guard.check(False, 30)
  assert guard.scalars() == {"skipped_steps": 5.0}


def test_poison_hits_only_its_target_and_step():
  config = Config(test_poison="stage2:5")
  assert bool(finite_guard.NonFiniteSteps(config, "stage2").poison(5))
  assert not bool(finite_guard.NonFiniteSteps(config, "stage2").poison(4))
  assert not bool(finite_guard.NonFiniteSteps(config, "stage1").poison(5))


@pytest.mark.parametrize(
  "spec", ["stage3:1", "stage1", "stage1:0", "stage1:x", ":4"]
)
def test_bad_poison_spec_names_the_flag(spec):
  with pytest.raises(ConfigError, match="test_poison"):
    finite_guard.NonFiniteSteps(Config(test_poison=spec), "stage1")
