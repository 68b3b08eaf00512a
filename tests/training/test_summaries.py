"""The TensorBoard grid's fixed captions span the test split's classes."""

import numpy as np

from sdn_tf import config as config_lib
from sdn_tf.data import preparation
from sdn_tf.training import summaries


def test_fixed_eval_batch_spans_the_classes(tmp_path):
  config = config_lib.Config(
    dataset="shapes",
    raw_data_dir=str(tmp_path / "raw"),
    data_dir=str(tmp_path / "records"),
    shapes_num_train=40,
    shapes_num_test=64,  # two per class, sorted by class in the records
    image_size=32,
    num_eval_captions=8,
    noise_dim=4,
  )
  data_dir = preparation.ensure_prepared(config)
  batch = summaries.fixed_eval_batch(config, data_dir)
  assert len(set(batch["label"].tolist())) == 8
  assert batch["image"].shape == (8, 32, 32, 3)
  assert batch["noise"].shape[1:] == (8, 4)
  again = summaries.fixed_eval_batch(config, data_dir)
  np.testing.assert_array_equal(batch["image"], again["image"])
  assert list(batch["caption"]) == list(again["caption"])
