"""Unit tests of trainer helpers that the end-to-end run does not pin down."""

import os

import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.training import loop
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils.errors import UsageError


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


def _saved_three(workdir):
  """A work dir with checkpoints 1, 2, 3 of a variable holding 1, 2, 3."""
  variable = tf.Variable(tf.zeros([64]))
  manager = tf.train.CheckpointManager(
    tf.train.Checkpoint(v=variable),
    workdir_lib.checkpoint_dir(str(workdir)),
    max_to_keep=5,
  )
  for number in (1, 2, 3):
    variable.assign(tf.fill([64], float(number)))
    manager.save(checkpoint_number=number)
  return workdir_lib.checkpoint_dir(str(workdir))


def _restored(workdir):
  variable = tf.Variable(tf.zeros([64]))
  prefix = loop.restore_newest_readable(
    tf.train.Checkpoint(v=variable), str(workdir)
  )
  return prefix, float(variable[0])


def _damage(path, how):
  data = bytearray(open(path, "rb").read())
  if how == "flip":
    data[len(data) // 2] ^= 0xFF
  else:
    data = data[: len(data) // 2]
  with open(path, "wb") as f:
    f.write(bytes(data))


@pytest.mark.parametrize(
  "part, how",
  [
    ("data-00000-of-00001", "flip"),
    ("data-00000-of-00001", "cut"),
    ("index", "cut"),
  ],
)
def test_restore_falls_back_past_an_unreadable_newest_checkpoint(
  tmp_path, part, how, caplog
):
  folder = _saved_three(tmp_path)
  _damage(os.path.join(folder, f"ckpt-3.{part}"), how)
  prefix, value = _restored(tmp_path)
  assert prefix == os.path.join(folder, "ckpt-2")
  assert value == 2.0
  assert f"Checkpoint {folder}/ckpt-3 cannot be read" in caplog.text


def test_restore_does_not_start_over_when_the_state_file_is_garbage(tmp_path):
  folder = _saved_three(tmp_path)
  with open(os.path.join(folder, "checkpoint"), "w") as f:
    f.write("garbage {{{")
  # tf.train.latest_checkpoint now finds nothing.
  assert tf.train.latest_checkpoint(folder) is None
  assert _restored(tmp_path) == (os.path.join(folder, "ckpt-3"), 3.0)


def test_restore_refuses_when_no_checkpoint_reads(tmp_path):
  folder = _saved_three(tmp_path)
  for number in (1, 2, 3):
    _damage(os.path.join(folder, f"ckpt-{number}.index"), "cut")
  with pytest.raises(UsageError, match="none of the 3 checkpoints"):
    _restored(tmp_path)


def test_restore_of_a_fresh_workdir_is_none(tmp_path):
  assert _restored(tmp_path) == (None, 0.0)
