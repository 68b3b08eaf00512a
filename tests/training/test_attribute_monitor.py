"""The attribute monitor: the evaluator's reading of drawings of fixed
validation captions, written to TensorBoard as training goes."""

import glob
import os

import pytest
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.config import ConfigError
from sdn_tf.config import validate
from sdn_tf.data import input_pipeline
from sdn_tf.data import preparation
from sdn_tf.training import attribute_monitor
from sdn_tf.training import builders
from tests.tiny_shapes import shapes_config

ATTRIBUTES = ("shape", "colour", "size", "position", "background")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
  root = tmp_path_factory.mktemp("monitor")
  config = shapes_config(
    root,
    shapes_num_train=160,
    fc_units=32,
    embedding_dim=16,
    noise_dim=4,
    eval_every=5,
    eval_captions=6,
    evaluator_steps=3,
  )
  preparation.ensure_prepared(config)
  return config


def _read_scalars(logdir):
  found = {}
  for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        found.setdefault(value.tag, []).append(
          (event.step, float(tf.make_ndarray(value.tensor)))
        )
  return found


def test_scores_go_to_tensorboard_per_attribute(config, tmp_path):
  generator = builders.make_generator(config, config.data_dir)
  monitor = attribute_monitor.AttributeMonitor(config, config.data_dir)
  writer = tf.summary.create_file_writer(str(tmp_path))
  first = monitor.write(writer, generator, step=5)
  again = monitor.write(writer, generator, step=10)
  writer.flush()

  validation = input_pipeline.count_examples(config.data_dir, "validation")
  assert first["num_captions"] == min(config.eval_captions, validation) > 0
  # Fixed captions and noise: the same model scores the same.
  assert first == again
  scalars = _read_scalars(str(tmp_path))
  for name in ATTRIBUTES + ("all_named_right",):
    if first[name] is None:  # no caption named it
      continue
    assert [step for step, _ in scalars[f"eval/{name}"]] == [5, 10]
    assert scalars[f"eval/{name}"][0][1] == pytest.approx(first[name])
    assert 0 <= first[name] <= 1
  assert "eval/shape" in scalars and "eval/colour" in scalars


def test_eval_every_needs_the_shapes_attributes():
  with pytest.raises(ConfigError, match="eval_every"):
    validate(Config(dataset="cub", eval_every=10))
  with pytest.raises(ConfigError, match="evaluator_steps"):
    validate(Config(evaluator_steps=0))
