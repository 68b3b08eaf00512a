"""One SDN training step per stage, written for a single replica.

`DistillationTask` holds the networks and what the losses need; its
`stage_loss` is the per-replica loss of Stage I or II, and
`distributed_train_step` wraps it in `strategy.run`/`reduce`. The trainer
owns the loop, checkpoints and summaries.
"""

from typing import Dict, Mapping, Optional

import keras
import tensorflow as tf

from sdn_tf import losses
from sdn_tf.config import Config
from sdn_tf.models import teacher as teacher_lib


class DistillationTask:
  """Stage-I and Stage-II losses of a generator against a frozen teacher."""

  def __init__(self, config: Config, teacher: keras.Model,
               generator: keras.Model,
               scales: Optional[losses.RunningScale] = None):
    self.config = config
    self.teacher = teacher
    self.generator = generator
    self.scales = scales
    self.stage1_weights = config.weights_for(config.stage1_point_names)
    self.stage2_weights = config.weights_for(config.stage2_point_names)
    self.num_samples = config.num_diverse_samples

  def _noise(self, batch_size) -> Optional[tf.Tensor]:
    if not self.config.noise_dim:
      return None
    return tf.random.normal([batch_size, self.config.noise_dim])

  def _point_scales(self, real: Mapping[str, tf.Tensor]):
    if self.scales is None:
      return None
    return self.scales.update(real)

  def stage_loss(self, batch: Mapping[str, tf.Tensor], stage: int,
                 global_batch_size: int):
    """Per-replica loss for `stage` (1 or 2) and its terms for logging.

    Returns:
      (loss averaged over the global batch, {name: per-replica mean}).
    """
    k = self.num_samples
    real_images = teacher_lib.to_teacher_space(batch["image"],
                                               self.config.input_scaling)
    real = self.teacher(real_images, training=False)
    scales = self._point_scales(real)
    if k > 1:
      # The K samples of one caption sit next to each other.
      real = {name: tf.repeat(value, k, axis=0) for name, value in real.items()}
    inputs = batch[self.generator.input_key]
    inputs = tf.repeat(inputs, k, axis=0) if k > 1 else inputs
    generated = self.generator(inputs, self._noise(tf.shape(inputs)[0]),
                               training=True)

    logs = {}
    per_sample = 0.0
    if stage == 1 or self.config.stage2_stage1_weight > 0:
      stage1, terms = losses.multi_level_loss(
          generated, real, self.stage1_weights, self.config.distance, scales)
      weight = 1.0 if stage == 1 else self.config.stage2_stage1_weight
      per_sample += weight * stage1
      logs.update({f"stage1/{n}": tf.reduce_mean(t) for n, t in terms.items()})
      logs["stage1/total"] = tf.reduce_mean(stage1)
    if stage == 2:
      on_generated = self.teacher(generated["image"], training=False)
      stage2, terms = losses.multi_level_loss(
          on_generated, real, self.stage2_weights, self.config.distance,
          scales)
      per_sample += stage2
      logs.update({f"stage2/{n}": tf.reduce_mean(t) for n, t in terms.items()})
      logs["stage2/total"] = tf.reduce_mean(stage2)
    per_example = losses.min_over_samples(per_sample, k,
                                          self.config.diverse_mean_weight)
    logs["loss"] = tf.reduce_mean(per_example)
    loss = tf.nn.compute_average_loss(per_example,
                                      global_batch_size=global_batch_size)
    return loss, logs


def make_train_step(strategy: tf.distribute.Strategy, task: DistillationTask,
                    optimizer: keras.optimizers.Optimizer, stage: int,
                    global_batch_size: int):
  """A tf.function: one distributed step on a batch of the distributed data."""
  variables = task.generator.trainable_variables
  scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

  def replica_step(batch):
    with tf.GradientTape() as tape:
      loss, logs = task.stage_loss(batch, stage, global_batch_size)
      # Mixed float16 needs loss scaling against underflow; bf16 does not.
      scaled_loss = optimizer.scale_loss(loss) if scaled else loss
    gradients = tape.gradient(scaled_loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return logs

  @tf.function
  def train_step(iterator) -> Dict[str, tf.Tensor]:
    logs = strategy.run(replica_step, args=(next(iterator),))
    return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
            for name, value in logs.items()}

  return train_step
