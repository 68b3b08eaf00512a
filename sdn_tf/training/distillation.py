"""One SDN training step per stage, written for a single replica.

`DistillationTask` holds the networks and what the losses need; its
`stage_loss` is the per-replica loss of Stage I or II. `make_train_step`
wraps it: the string work (tokenisation) runs first, the loss and its
gradients run as one function, XLA-compiled with `--jit_compile`, then the
optimizer applies the gradients if they are finite (`finite_guard`), all
inside `strategy.run`, with `strategy.reduce` for the logs.
The trainer owns the loop, checkpoints and summaries.
"""

from typing import Dict
from typing import Mapping
from typing import Optional
from typing import Tuple

from absl import logging
import keras
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import finite_guard
from sdn_tf.training import losses

# Replicas a noise seed tells apart (per step).
_MAX_REPLICAS = 1 << 16


class DistillationTask:
  """Stage-I and Stage-II losses of a generator against a frozen teacher."""

  def __init__(
    self,
    config: Config,
    teacher: keras.Model,
    generator: keras.Model,
    scales: Optional[losses.RunningScale] = None,
  ):
    self.config = config
    self.teacher = teacher
    self.generator = generator
    self.scales = scales
    self.stage1_weights = config.weights_for(config.stage1_point_names)
    self.stage2_weights = config.weights_for(config.stage2_point_names)
    self.distances = config.distances_for(
      set(config.stage1_point_names) | set(config.stage2_point_names)
    )
    self.num_samples = config.num_diverse_samples

  def prepare_inputs(self, batch: Mapping[str, tf.Tensor], step: tf.Tensor):
    """Generator inputs (K copies of each) and noise, outside XLA.

    The noise is a function of (seed, step, replica), not of a random
    state, so a run resumed from a checkpoint draws what it would have.
    """
    prepared = self.generator.prepare(batch[self.generator.input_key])
    if self.num_samples > 1:
      # The K samples of one caption sit next to each other.
      prepared = tf.repeat(prepared, self.num_samples, axis=0)
    noise = None
    if self.config.noise_dim:
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      seed = tf.stack(
        [
          tf.constant(self.config.seed, tf.int64),
          tf.cast(step, tf.int64) * _MAX_REPLICAS + tf.cast(replica, tf.int64),
        ]
      )
      noise = tf.random.stateless_normal(
        [tf.shape(prepared)[0], self.config.noise_dim], seed
      )
    return prepared, noise

  def stage_loss(
    self, images: tf.Tensor, prepared, noise, stage: int, global_batch_size: int
  ):
    """Per-replica loss for `stage` (1 or 2).

    Args:
      images: real images, float RGB 0..255 [batch, R, R, 3].
      prepared, noise: from `prepare_inputs`.
      stage: 1 or 2.
      global_batch_size: examples over all replicas.

    Returns:
      (loss averaged over the global batch, {name: per-replica mean},
       new running point scales or None).
    """
    k = self.num_samples
    real = self.teacher(
      teacher_lib.to_teacher_space(images, self.config.input_scaling),
      training=False,
    )
    scales = self.scales.blend(real) if self.scales is not None else None
    if k > 1:
      real = {name: tf.repeat(value, k, axis=0) for name, value in real.items()}
    generated = self.generator.from_prepared(prepared, noise, training=True)

    logs = {}
    per_sample = 0.0
    if stage == 1 or self.config.stage2_stage1_weight > 0:
      stage1, terms = losses.multi_level_loss(
        generated, real, self.stage1_weights, self.distances, scales
      )
      weight = 1.0 if stage == 1 else self.config.stage2_stage1_weight
      per_sample += weight * stage1
      logs.update({f"stage1/{n}": tf.reduce_mean(t) for n, t in terms.items()})
      logs["stage1/total"] = tf.reduce_mean(stage1)
    if stage == 2:
      on_generated = self.teacher(generated["image"], training=False)
      stage2, terms = losses.multi_level_loss(
        on_generated, real, self.stage2_weights, self.distances, scales
      )
      per_sample += stage2
      logs.update({f"stage2/{n}": tf.reduce_mean(t) for n, t in terms.items()})
      logs["stage2/total"] = tf.reduce_mean(stage2)
    per_example = losses.min_over_samples(
      per_sample, k, self.config.diverse_mean_weight
    )
    logs["loss"] = tf.reduce_mean(per_example)
    loss = tf.nn.compute_average_loss(
      per_example, global_batch_size=global_batch_size
    )
    return loss, logs, scales


def make_train_step(
  strategy: tf.distribute.Strategy,
  task: DistillationTask,
  optimizer: keras.optimizers.Optimizer,
  stage: int,
  global_batch_size: int,
  jit_compile: bool = True,
):
  """A tf.function: one distributed step on a batch of the distributed data."""
  variables = task.generator.trainable_variables
  scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

  def loss_and_gradients(images, prepared, noise, poison):
    # Only the generator's variables: the frozen teacher's kernels are
    # still tf.Variables a tape would watch, and their gradients (pruned
    # at run time, but not from the graph) would double its FLOP count.
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v.value for v in variables])
      loss, logs, scales = task.stage_loss(
        images, prepared, noise, stage, global_batch_size
      )
      loss = finite_guard.poisoned(loss, poison)
      # Mixed float16 needs loss scaling against underflow; bf16 does not.
      scaled_loss = optimizer.scale_loss(loss) if scaled else loss
    gradients = tape.gradient(scaled_loss, variables)
    finite = finite_guard.all_finite(loss, gradients)
    return gradients, logs, scales, finite

  if strategy.num_replicas_in_sync == 1:
    loss_and_gradients = tf.function(
      loss_and_gradients, jit_compile=jit_compile, autograph=False
    )
  elif jit_compile:
    # Its batch statistics (batch norm, point scales) are reduced over the
    # replicas, and a cross-replica reduction cannot sit in a nested
    # tf.function, let alone an XLA cluster.
    logging.warning(
      "--jit_compile: not used under %d replicas (their batch statistics "
      "are synchronised)",
      strategy.num_replicas_in_sync,
    )

  def replica_step(batch, poison):
    prepared, noise = task.prepare_inputs(batch, optimizer.iterations)
    gradients, logs, scales, finite = loss_and_gradients(
      batch["image"], prepared, noise, poison
    )
    after_apply = None
    if scales is not None:
      after_apply = lambda: task.scales.assign(scales)  # noqa: E731
    applied = finite_guard.apply_if_finite(
      optimizer, gradients, variables, finite, after_apply
    )
    return logs, applied

  # No AutoGraph: the step's branches are explicit tf.conds, and converting
  # the ~80 Python functions it calls took a third of its tracing time,
  # which every training process pays per stage (docs/PERFORMANCE.md).
  @tf.function(autograph=False)
  def train_step(iterator, poison) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
    """(mean logs, whether the update was applied) of one step."""
    logs, applied = strategy.run(replica_step, args=(next(iterator), poison))
    logs = {
      name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
      for name, value in logs.items()
    }
    # Every replica reached the same verdict.
    return logs, strategy.experimental_local_results(applied)[0]

  return train_step
