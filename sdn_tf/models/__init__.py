"""Networks: the frozen VGG19 teacher and the student that mirrors it."""

# The options this package implements, as the flags name them. Kept here,
# free of TensorFlow, so that `sdn_tf.config` (and so `--help`) can import
# them without loading TensorFlow.
POOLINGS = ("avg", "max")  # teacher.py: the teacher's pooling layers
INPUT_SCALINGS = ("caffe", "raw")  # teacher.py: the teacher's input space
NORMALIZATIONS = ("none", "batch", "instance")  # student.py
UPSAMPLINGS = ("nearest", "bilinear")  # student.py: a pool's mirror
