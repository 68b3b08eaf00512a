"""Attribute accuracy of the student's drawings, in TensorBoard as it trains.

Every --eval_every steps the generator draws one image for each of a fixed
set of validation captions (evenly spaced over the split, so they span the
classes); the evaluator network reads what was drawn, and the share right
per attribute, and of captions with every named attribute right, go to
TensorBoard as eval/<attribute> beside the losses. The same scoring as
`python -m sdn_tf.evaluate`, on fewer captions and one seed. Shapes only.
"""

from typing import Dict
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.evaluation import attribute_scores
from sdn_tf.evaluation import evaluator as evaluator_lib
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import summaries

SPLIT = "validation"  # tuning is read here; the test split is for reports


class AttributeMonitor:
  """Draws the fixed captions and writes how much of them is right."""

  def __init__(self, config: Config, data_dir: str):
    self._config = config
    self._evaluator = evaluator_lib.load_or_train(
      data_dir,
      evaluator_lib.EvaluatorSettings(
        image_size=config.image_size, steps=config.evaluator_steps
      ),
    )
    if not self._evaluator.trusted:
      logging.warning(
        "The evaluator network reads real test images below %.2f on some "
        "attribute (%s): eval/* in TensorBoard is not to be trusted",
        evaluator_lib.TRUST_THRESHOLD,
        self._evaluator.report["test_accuracy"],
      )
    self._batch = summaries.evenly_spaced_batch(
      config, data_dir, SPLIT, config.eval_captions
    )
    self._captions = [
      c.decode("utf-8", "replace") for c in self._batch["caption"]
    ]
    count = len(self._captions)
    # Fixed noise: a change of the curve is a change of the model.
    self._noise = (
      np.random.default_rng(config.seed)
      .standard_normal((count, config.noise_dim))
      .astype(np.float32)
      if config.noise_dim
      else None
    )

  def scores(self, generator) -> Dict[str, Optional[float]]:
    """{attribute: accuracy, "all_named_right": share, "num_captions": N}."""
    outputs = generator(
      self._batch[generator.input_key], self._noise, training=False
    )
    images = teacher_lib.to_uint8_rgb(
      outputs["image"], self._config.input_scaling
    ).numpy()
    predicted = self._evaluator.run(images)
    return attribute_scores.score(
      self._captions,
      {name: values[:, None] for name, values in predicted.items()},
    )

  def write(self, writer, generator, step: int) -> Dict[str, Optional[float]]:
    """Scores the generator now and writes eval/* at `step`."""
    scores = self.scores(generator)
    named = {
      k: v for k, v in scores.items() if k != "num_captions" and v is not None
    }
    with writer.as_default():
      for name, value in named.items():
        tf.summary.scalar(f"eval/{name}", value, step=step)
    logging.info(
      "eval at step %d (%d validation captions): %s",
      step,
      scores["num_captions"],
      ", ".join(f"{k} {v:.3f}" for k, v in named.items()),
    )
    return scores
