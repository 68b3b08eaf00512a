"""The work each benchmark mode times, built from the real training code.

Each builder returns a `Workload`: a blocking call that does one unit of the
mode's work on a fixed batch (so input never holds a step up), how many
images that is, and its FLOPs counted from the graph (None for `input`).
The teacher's weights are random: a step's cost does not depend on them.
"""

import dataclasses
from typing import Callable
from typing import Optional

import tensorflow as tf

from sdn_tf.benchmarking import flops as flops_lib
from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import builders
from sdn_tf.training import distillation
from sdn_tf.training import loop


@dataclasses.dataclass
class Workload:
  run: Callable[[], object]
  images_per_call: int
  flops_per_call: Optional[int]
  flops_counted: str


def _training_batches(config: Config, data_dir: str):
  return input_pipeline.make_dataset(
    data_dir,
    "train",
    global_batch_size=config.batch_size,
    image_size=config.image_size,
    training=True,
    seed=config.seed,
  )


def _real_batch(config: Config, data_dir: str):
  return next(iter(_training_batches(config, data_dir)))


def training_step(config: Config, data_dir: str, stage: int) -> Workload:
  """One full step of `stage`, as `training.loop` runs it."""
  strategy = tf.distribute.get_strategy()
  steps = {loop.STAGE_ONE: 1000, loop.STAGE_TWO: 1000}
  state = loop.TrainState(config, data_dir, None, None, steps)
  task = distillation.DistillationTask(
    config, state.teacher, state.generator, state.scales
  )
  step = distillation.make_train_step(
    strategy,
    task,
    state.optimizers[stage],
    stage,
    config.batch_size,
    config.use_xla,
  )
  batch = _real_batch(config, data_dir)
  iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())

  no_poison = tf.constant(False)
  variables = state.generator.trainable_variables

  @tf.function
  def loss_and_gradients(images, prepared, noise):
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v.value for v in variables])
      loss, _, _ = task.stage_loss(
        images, prepared, noise, stage, config.batch_size
      )
    return tape.gradient(loss, variables)

  prepared, noise = task.prepare_inputs(batch, tf.constant(0, tf.int64))
  counted = flops_lib.count_flops(
    loss_and_gradients, batch["image"], prepared, noise
  )
  return Workload(
    run=lambda: float(step(iterator, no_poison)[0]["loss"]),
    images_per_call=config.batch_size,
    flops_per_call=counted,
    flops_counted="graph of the loss and all its gradients (without the "
    "optimizer update)",
  )


def generate(config: Config, data_dir: str) -> Workload:
  """The generator drawing a batch from captions (no PNG encoding)."""
  generator = builders.make_generator(config, data_dir, None)
  generator.build_for(2)
  batch = _real_batch(config, data_dir)
  prepared = generator.prepare(batch[generator.input_key])
  noise = (
    tf.random.normal([config.batch_size, config.noise_dim])
    if config.noise_dim
    else None
  )

  def draw(prepared, noise):
    return generator.from_prepared(prepared, noise, training=False)["image"]

  compiled = tf.function(draw, jit_compile=config.use_xla)
  return Workload(
    run=lambda: compiled(prepared, noise).numpy(),
    images_per_call=config.batch_size,
    flops_per_call=flops_lib.count_flops(tf.function(draw), prepared, noise),
    flops_counted="graph of the generator's forward pass",
  )


def teacher_forward(config: Config, data_dir: str) -> Workload:
  """The frozen VGG19 teacher on a batch of real images."""
  teacher = teacher_lib.build_teacher(
    config.image_size, None, config.teacher_pooling
  )
  images = _real_batch(config, data_dir)["image"]

  def forward(images):
    space = teacher_lib.to_teacher_space(images, config.input_scaling)
    return teacher(space, training=False)["block5_pool"]

  compiled = tf.function(forward, jit_compile=config.use_xla)
  return Workload(
    run=lambda: compiled(images).numpy(),
    images_per_call=config.batch_size,
    flops_per_call=flops_lib.count_flops(tf.function(forward), images),
    flops_counted="graph of the teacher's forward pass",
  )


def input_pipeline_batches(config: Config, data_dir: str) -> Workload:
  """The training input pipeline alone: read, decode, shuffle, batch."""
  iterator = iter(_training_batches(config, data_dir))
  return Workload(
    run=lambda: next(iterator)["image"].numpy(),
    images_per_call=config.batch_size,
    flops_per_call=None,
    flops_counted="not counted: the input pipeline is not FLOP-bound",
  )


def build(mode: str, config: Config, data_dir: str) -> Workload:
  if mode == "train_stage1":
    return training_step(config, data_dir, loop.STAGE_ONE)
  if mode == "train_stage2":
    return training_step(config, data_dir, loop.STAGE_TWO)
  if mode == "generate":
    return generate(config, data_dir)
  if mode == "teacher":
    return teacher_forward(config, data_dir)
  if mode == "input":
    return input_pipeline_batches(config, data_dir)
  raise ValueError(f"unknown mode {mode!r}")
