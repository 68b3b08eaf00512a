"""The machine's attainable FLOP/s: a large square matmul, timed in-process.

A matmul is the best case for the same math libraries a VGG step uses, so
`achieved / peak` says how much of what this machine can do a step gets.
"""

import time

import tensorflow as tf

from sdn_tf.benchmarking import timing


def matmul_peak(dtype: str, size: int = 2048, repeats: int = 8) -> dict:
  """FLOP/s of `size`x`size` matmuls in `dtype` (median of `repeats`)."""
  a = tf.random.normal([size, size], dtype=tf.float32)
  b = tf.random.normal([size, size], dtype=tf.float32)
  a, b = tf.cast(a, dtype), tf.cast(b, dtype)
  matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
  matmul(a, b).numpy()  # trace and warm the caches

  def once():
    start = time.perf_counter()
    matmul(a, b).numpy()
    return time.perf_counter() - start

  seconds = timing.summarize([once() for _ in range(repeats)])
  flops = 2.0 * size**3
  return {
    "dtype": dtype,
    "size": size,
    "flops_per_second": flops / seconds["median"],
    "seconds": seconds,
  }
