"""FLOPs of a traced function, counted from its graph.

TensorFlow's graph profiler sums each op's registered cost (2 per
multiply-add for convolutions and matmuls, including the convolutions'
gradient ops), so the count is of the ops the step really runs, forward and
backward, not a formula. Ops without a registered cost (a few elementwise
ones) are not counted, so the count is a slight underestimate.
"""

import tensorflow as tf


def count_flops(function: tf.types.experimental.GenericFunction, *args) -> int:
  """FLOPs of one call of the (not XLA-compiled) tf.function on `args`."""
  graph = function.get_concrete_function(*args).graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  profile = tf.compat.v1.profiler.profile(
    graph=graph, run_meta=None, cmd="op", options=options
  )
  return int(profile.total_float_ops)
