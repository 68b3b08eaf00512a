"""Evaluation: what the numbers of a results table are computed with."""

# The evaluator network's default training steps (evaluator.py), kept here,
# free of TensorFlow, for the flag of `sdn_tf.evaluate`.
EVALUATOR_STEPS = 1500
