"""The Config of a tiny built-in shapes data set, for tests that prepare
one: its raw and prepared data under `root`, a local folder or a URL."""

from sdn_tf.config import Config


def shapes_config(root, **overrides) -> Config:
  values = dict(
    dataset="shapes",
    raw_data_dir=f"{root}/raw",
    data_dir=f"{root}/records",
    shapes_num_train=64,
    shapes_num_test=32,
    image_size=32,
  )
  values.update(overrides)
  return Config(**values)
