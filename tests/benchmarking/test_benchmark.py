"""The benchmark's parts on known answers, and the tool end to end."""

import json
import os

import numpy as np
import tensorflow as tf

from sdn_tf.benchmarking import flops
from sdn_tf.benchmarking import peak
from sdn_tf.benchmarking import timing
from tests import tool_runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_flops_of_a_matmul_and_a_convolution():
  matmul = tf.function(lambda a, b: tf.matmul(a, b))
  a, b = tf.zeros([4, 8]), tf.zeros([8, 16])
  assert flops.count_flops(matmul, a, b) == 2 * 4 * 8 * 16

  conv = tf.function(lambda x, k: tf.nn.conv2d(x, k, strides=1, padding="SAME"))
  x, k = tf.zeros([2, 6, 6, 3]), tf.zeros([3, 3, 3, 5])
  # 2 FLOPs per multiply-add, one 3x3x3 dot product per output value.
  assert flops.count_flops(conv, x, k) == 2 * (2 * 6 * 6 * 5) * (3 * 3 * 3)


def test_flops_count_the_gradient_ops_too():
  kernel = tf.Variable(tf.zeros([3, 3, 3, 5]))

  def forward(x):
    return tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, "SAME"))

  @tf.function
  def forward_backward(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = forward(x)
    return tape.gradient(y, [x, kernel])

  x = tf.zeros([2, 6, 6, 3])
  one_pass = flops.count_flops(tf.function(forward), x)
  # Input and kernel gradients each cost about one forward convolution.
  assert flops.count_flops(forward_backward, x) >= 3 * 0.9 * one_pass


def test_summarize_and_time_calls():
  summary = timing.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
  assert summary["median"] == 3.0
  assert (summary["min"], summary["max"], summary["count"]) == (1.0, 100.0, 5)
  assert np.isclose(summary["iqr_over_median"], (4.0 - 2.0) / 3.0)
  calls = []
  result = timing.time_calls(lambda: calls.append(1), warmup=2, steps=3)
  assert len(calls) == 5 and result["count"] == 3


def test_matmul_peak_is_positive_and_dtype_aware():
  result = peak.matmul_peak("bfloat16", size=128, repeats=2)
  assert result["dtype"] == "bfloat16"
  assert result["flops_per_second"] > 0


def _benchmark(tmp_path, *flags):
  scratch = tmp_path / "tmp"
  scratch.mkdir(exist_ok=True)
  return tool_runner.run_tool(
    "benchmark.py",
    "--flagfile=" + os.path.join(ROOT, "configs", "shapes_smoke.cfg"),
    f"--raw_data_dir={tmp_path / 'raw'}",
    f"--data_dir={tmp_path / 'records'}",
    *flags,
    timeout=600,
    env={**os.environ, "TMPDIR": str(scratch)},
  )


def test_tool_prints_one_json_line_per_run(tmp_path):
  done = _benchmark(tmp_path, "--mode=train_stage2", "--steps=2", "--warmup=1")
  assert done.returncode == 0, done.stderr[-2000:]
  result = json.loads(done.stdout.strip().splitlines()[-1])
  assert result["mode"] == "train_stage2"
  assert result["precision"] in ("float32", "mixed_bfloat16")
  assert result["step_seconds"]["count"] == 2
  assert result["images_per_second"] > 0
  # Stage II runs the teacher on real and generated images and the student
  # forward and backward: well over 3 forward passes of the teacher alone.
  assert result["flops_per_image"] > 3 * 0.2e9 * (32 / 64) ** 2
  assert 0 < result["utilisation"] < 1.5
  assert result["peak"]["flops_per_second"] > 0
  assert result["peak_memory_mib"] > 0
  # The small data set it made for the run (no prepared --data_dir) is gone.
  assert not [
    name
    for name in os.listdir(tmp_path / "tmp")
    if name.startswith("sdn_benchmark_")
  ]


def test_tool_rejects_a_bad_flag_in_one_line(tmp_path):
  done = _benchmark(tmp_path, "--mode=teacher", "--steps=0")
  assert done.returncode == 2
  assert (
    done.stderr.strip()
    .splitlines()[-1]
    .startswith("benchmark.py: error: --steps: must be at least 1, got 0")
  )
