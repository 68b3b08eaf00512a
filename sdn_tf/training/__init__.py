"""Training: everything between prepared data and a trained generator."""

# The options this package implements, as the flags name them. Kept here,
# free of TensorFlow, so that `sdn_tf.config` (and so `--help`) can import
# them without loading TensorFlow.
DISTANCES = ("l1", "l2")  # losses.py
STRATEGIES = (
  "default",
  "one_device",
  "mirrored",
  "multi_worker_mirrored",
  "tpu",
)  # distribute.py
LR_SCHEDULES = ("constant", "cosine")  # loop.py
