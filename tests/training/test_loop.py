"""Unit tests of trainer helpers that the end-to-end run does not pin down."""

import os

import numpy as np
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.training import loop


def test_cosine_optimizer_decays_and_checkpoints(tmp_path):
  # Regression: setting a schedule on a built optimizer broke its
  # checkpoint ("Unable to save the object ListWrapper(...)").
  optimizer = loop._make_optimizer(
    Config(lr_schedule="cosine", learning_rate=1e-3), steps=10
  )
  variable = tf.Variable([1.0, 2.0])
  rates = []
  for _ in range(10):
    optimizer.apply_gradients([(tf.constant([0.5, -0.5]), variable)])
    rates.append(loop.current_learning_rate(optimizer))
  assert rates[0] < 1e-3
  assert all(a > b for a, b in zip(rates, rates[1:])), rates
  np.testing.assert_allclose(rates[-1], 0.05 * 1e-3, rtol=1e-4)
  checkpoint = tf.train.Checkpoint(optimizer=optimizer, variable=variable)
  path = checkpoint.save(os.path.join(tmp_path, "ckpt"))
  assert tf.train.latest_checkpoint(tmp_path) == path


def test_constant_learning_rate_stays():
  optimizer = loop._make_optimizer(Config(learning_rate=3e-4), steps=10)
  variable = tf.Variable([1.0])
  optimizer.apply_gradients([(tf.constant([1.0]), variable)])
  np.testing.assert_allclose(loop.current_learning_rate(optimizer), 3e-4)


def test_stage2_learning_rate_overrides_only_stage2():
  config = Config(learning_rate=1e-3, stage2_learning_rate=1e-4)
  for stage, expected in ((loop.STAGE_ONE, 1e-3), (loop.STAGE_TWO, 1e-4)):
    optimizer = loop._make_optimizer(config, steps=10, stage=stage)
    np.testing.assert_allclose(loop.current_learning_rate(optimizer), expected)
  same = loop._make_optimizer(
    Config(learning_rate=1e-3), steps=10, stage=loop.STAGE_TWO
  )
  np.testing.assert_allclose(loop.current_learning_rate(same), 1e-3)


def test_stage_steps_from_epochs_or_explicit():
  metadata = {"num_examples": {"train": 100}, "captions_per_image": 10}
  steps = loop.stage_steps(
    Config(batch_size=16, stage1_epochs=2, stage2_steps=7), metadata
  )
  # 2 epochs of 100 images x 10 captions at batch 16, rounded up.
  assert steps == {loop.STAGE_ONE: 125, loop.STAGE_TWO: 7}


def test_chief_first_waits_for_the_chief(tmp_path):
  marker = tmp_path / "ready"
  made = []
  # The chief makes at once; a worker waits until the file exists.
  assert (
    loop.chief_first(
      True, lambda: made.append("chief") or 1, lambda: False, "test"
    )
    == 1
  )
  marker.write_text("x")
  assert (
    loop.chief_first(
      False,
      lambda: made.append("worker") or 2,
      marker.exists,
      "test",
      poll_s=0.01,
    )
    == 2
  )
  assert made == ["chief", "worker"]


def test_chief_first_times_out_naming_the_work():
  try:
    loop.chief_first(
      False,
      lambda: None,
      lambda: False,
      "pretrain the teacher",
      timeout_s=0.05,
      poll_s=0.01,
    )
  except TimeoutError as e:
    assert "pretrain the teacher" in str(e)
  else:
    raise AssertionError("no TimeoutError")
