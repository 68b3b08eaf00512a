"""MirroredStrategy on two CPU devices: one training step equals the
same step on one device (from the same weights, on the same global batch,
the loss and every updated weight agree within float tolerance), and a
global batch that does not split over the replicas is refused.

In a subprocess: the CPU is split into two logical devices before
TensorFlow starts, which a pytest process that already ran ops cannot do.
"""

import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

_ONE_STEP_BOTH_WAYS = r"""
import json, sys
import keras
import numpy as np
import tensorflow as tf
from sdn_tf import config as config_lib
from sdn_tf.data import input_pipeline, preparation
from sdn_tf.training import distillation, distribute, loop

distribute.split_cpu(2)
base = sys.argv[1]
config = config_lib.Config(
  dataset="shapes", raw_data_dir=base + "/raw", data_dir=base + "/records",
  shapes_num_train=64, shapes_num_test=32, image_size=32, batch_size=8,
  fc_units=64, embedding_dim=64, max_caption_length=24,
  normalization="batch", conditional_norm=True, normalize_points=True,
  calibrated_outputs=True, teacher_weights="random", text_pretrain_steps=0,
  precision="float32", jit_compile="false", learning_rate=1e-2,
  noise_dim=0, num_diverse_samples=1,
)
data_dir = preparation.ensure_prepared(config)
batch = next(iter(input_pipeline.make_dataset(
  data_dir, "train", global_batch_size=8, image_size=32, training=False)))
steps = {loop.STAGE_ONE: 1, loop.STAGE_TWO: 1}

def one_step(strategy, start=None):
  # The teacher (random here) is not in the checkpoint: the seed makes it.
  keras.utils.set_random_seed(0)
  with strategy.scope():
    state = loop.TrainState(config, data_dir, None, None, steps)
  if start is not None:
    state.checkpoint.read(start).assert_consumed()
  else:
    start = state.checkpoint.write(base + "/start")
  initial = [v.numpy() for v in state.generator.trainable_variables]
  # Plain SGD: the step is then the gradient itself. Adam's first step,
  # lr * g / |g| per weight, turns float noise in a near-zero gradient
  # into a full step either way.
  with strategy.scope():
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    optimizer.build(state.generator.trainable_variables)
  dataset = tf.data.Dataset.from_tensors(batch)
  step = distillation.make_train_step(
    strategy,
    distillation.DistillationTask(
      config, state.teacher, state.generator, state.scales),
    optimizer, loop.STAGE_ONE, 8, jit_compile=False)
  logs, applied = step(
    iter(strategy.experimental_distribute_dataset(dataset)), tf.constant(False))
  # In build order: a second model's auto-generated names get suffixes.
  weights = [(v.path, v.numpy()) for v in state.generator.trainable_variables]
  return start, float(logs["loss"]), weights, initial

start, loss_one, weights_one, initial_one = one_step(tf.distribute.get_strategy())
mirrored = distribute.get_strategy("mirrored", num_cpu_devices=2)
_, loss_two, weights_two, initial_two = one_step(mirrored, start)
# Per variable: how far the two steps differ, over the length of the step.
relative = {
  one[0]: float(
    np.linalg.norm(one[1] - two[1])
    / max(np.linalg.norm(one[1] - start_value), 1e-12)
  )
  for one, two, start_value in zip(
    weights_one, weights_two, initial_one, strict=True
  )
}
print(json.dumps({
  "replicas": mirrored.num_replicas_in_sync,
  "loss": [loss_one, loss_two],
  "start_difference": max(
    float(np.abs(a - b).max()) for a, b in zip(initial_one, initial_two)),
  "largest_step": max(
    float(np.abs(a - b[1]).max()) for a, b in zip(initial_one, weights_one)),
  "worst_relative_difference": max(relative.values()),
  "worst": max(relative, key=relative.get),
}))
"""


def _one_step_both_ways(tmp_path):
  result = subprocess.run(
    [sys.executable, "-c", _ONE_STEP_BOTH_WAYS, str(tmp_path)],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_mirrored_step_equals_a_single_device_step(tmp_path):
  # The main job's kind of student: batch norm and per-point loss scales,
  # both statistics of the batch, which N replicas must compute over the
  # global batch (each replica's own differed by 2% in the loss).
  found = _one_step_both_ways(tmp_path)
  assert found["replicas"] == 2
  assert found["start_difference"] == 0.0
  loss_one, loss_two = found["loss"]
  assert abs(loss_one - loss_two) <= 1e-5 * abs(loss_one), found
  # Float summation order (and Keras' E[x^2] - E[x]^2 for synchronised
  # batch norm) leaves differences of about 1e-4 of a variable's step;
  # gradients that were not reduced over the replicas would differ by
  # tens of percent.
  assert found["worst_relative_difference"] <= 1e-2, found


def test_a_global_batch_that_does_not_split_evenly_is_refused(tmp_path):
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "sdn_tf.train",
      "--flagfile=configs/shapes_smoke.cfg",
      "--strategy=mirrored",
      "--num_cpu_devices=2",
      "--batch_size=3",
      f"--workdir={tmp_path / 'work'}",
    ],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
  )
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1] == (
    "error: --batch_size: is the global batch, split evenly over the 2 "
    "replicas of --strategy=mirrored: got 3"
  )
  assert not (tmp_path / "work" / "config.json").exists()
