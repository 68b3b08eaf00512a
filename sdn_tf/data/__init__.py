"""Data sets: on-disk layouts, TFRecord conversion and the tf.data input pipeline."""
