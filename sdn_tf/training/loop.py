"""The training run: teacher, Stage I, Stage II, export.

`train_and_export(config, workdir)` is everything `python -m sdn_tf.train`
does after parsing flags. It is resumable: rerunning it with the same work
dir continues from the latest checkpoint, in the right stage, at the right
step (the stage counter and both optimizers' step counters are part of the
checkpoint). Layout of a work dir:

  config.json            the resolved configuration, --precision=auto and
                         --jit_compile=auto as chosen (chief only)
  teacher/               the cached pretrained teacher (--teacher_weights=pretrain)
  checkpoints/           tf.train.CheckpointManager files
  train/                 TensorBoard events: losses per point and stage,
                         learning rate, speed, image grids with captions
  export/<version>/      SavedModels in TF Serving's layout
"""

import hashlib
import math
import tempfile
import threading
import time
from typing import Dict
from typing import Optional

from absl import logging
import keras
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.data import preparation
from sdn_tf.data.records import checked_reader
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import attribute_monitor
from sdn_tf.training import builders
from sdn_tf.training import distillation
from sdn_tf.training import distribute
from sdn_tf.training import finite_guard
from sdn_tf.training import losses
from sdn_tf.training import precision
from sdn_tf.training import run_control
from sdn_tf.training import summaries
from sdn_tf.training import teacher_pretraining
from sdn_tf.training import text_pretraining
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.training import xla_choice
from sdn_tf.utils import files
from sdn_tf.utils import progress
from sdn_tf.utils.errors import UsageError

# Stage counter values stored in the checkpoint.
STAGE_ONE, STAGE_TWO, DONE = 1, 2, 3


def stage_steps(config: Config, metadata: Dict) -> Dict[int, int]:
  """Steps of each stage: explicit, or epochs of (image, caption) pairs."""
  pairs = int(metadata["num_examples"]["train"]) * int(
    metadata.get("captions_per_image") or 1
  )
  steps = {}
  for stage, explicit, epochs in (
    (STAGE_ONE, config.stage1_steps, config.stage1_epochs),
    (STAGE_TWO, config.stage2_steps, config.stage2_epochs),
  ):
    steps[stage] = explicit or math.ceil(epochs * pairs / config.batch_size)
  return steps


class TrainState:
  """Everything a checkpoint holds, created under the strategy's scope."""

  def __init__(
    self,
    config: Config,
    data_dir: str,
    teacher_weights,
    embedding_dim: Optional[int],
    steps: Dict[int, int],
  ):
    self.teacher = teacher_lib.build_teacher(
      config.image_size, teacher_weights, config.teacher_pooling
    )
    self.generator = builders.make_generator(config, data_dir, embedding_dim)
    self.generator.build_for(2)
    if config.freeze_text_encoder:
      # Before the optimizers see the variables. Adam moves every weight by
      # about the learning rate per step however small its gradient, so a
      # pretrained encoder left trainable is soon rewritten by the noise of
      # Stage I's gradients.
      self.generator.encoder.trainable = False
    self.scales = (
      losses.RunningScale(
        set(config.stage1_point_names) | set(config.stage2_point_names),
        name="point_scales",
      )
      if config.normalize_points
      else None
    )
    self.optimizers = {
      stage: _make_optimizer(config, steps[stage], stage)
      for stage in (STAGE_ONE, STAGE_TWO)
    }
    # Slot variables made here, under the scope: made by the first
    # apply_gradients inside the tf.function instead, their MirroredStrategy
    # copies on a second device fail to initialise ("You must feed a value
    # for placeholder tensor 'cond/else/...'").
    for optimizer in self.optimizers.values():
      optimizer.build(self.generator.trainable_variables)
    self.stage = tf.Variable(
      STAGE_ONE, dtype=tf.int64, trainable=False, name="stage"
    )
    # Saved so that a resumed run goes on counting its skipped steps.
    self.skipped_steps = {
      stage: tf.Variable(
        0, dtype=tf.int64, trainable=False, name=f"stage{stage}_skipped_steps"
      )
      for stage in (STAGE_ONE, STAGE_TWO)
    }
    trackables = dict(
      generator=self.generator,
      stage1_optimizer=self.optimizers[STAGE_ONE],
      stage2_optimizer=self.optimizers[STAGE_TWO],
      stage=self.stage,
      stage1_skipped_steps=self.skipped_steps[STAGE_ONE],
      stage2_skipped_steps=self.skipped_steps[STAGE_TWO],
    )
    if self.scales is not None:
      trackables["point_scales"] = self.scales
    self.checkpoint = tf.train.Checkpoint(**trackables)

  def global_step(self) -> int:
    """Steps taken in both stages: the checkpoint number."""
    return sum(int(o.iterations.numpy()) for o in self.optimizers.values())


def _make_optimizer(config: Config, steps: int, stage: int = STAGE_ONE):
  """Adam with the stage's learning-rate schedule over its `steps`.

  The schedule is given at construction: replacing an optimizer's learning
  rate later breaks its checkpointing (Keras rewrites its variable list).
  """
  learning_rate = config.learning_rate_of(stage)
  if config.lr_schedule == "cosine":
    learning_rate = keras.optimizers.schedules.CosineDecay(
      learning_rate, decay_steps=max(steps, 1), alpha=0.05
    )
  optimizer = keras.optimizers.Adam(learning_rate)
  if config.precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def current_learning_rate(optimizer) -> float:
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  return float(keras.ops.convert_to_numpy(inner.learning_rate))


def _checkpoint_dir(workdir: str, strategy) -> str:
  # Non-chief workers must save too (collectives), but somewhere harmless.
  if distribute.is_chief(strategy):
    return workdir_lib.checkpoint_dir(workdir)
  return tempfile.mkdtemp(prefix="sdn_worker_ckpt_")


def _distributed_dataset(
  strategy, config: Config, data_dir: str, steps_done: int = 0
):
  """The stage's training data, past the batches its `steps_done` took.

  A resumed stage continues the stream where the checkpoint left it instead
  of training on its first batches again (exactly so under
  --deterministic): the batches are skipped, which reads them.
  """

  def dataset_fn(context):
    dataset = input_pipeline.make_dataset(
      data_dir,
      "train",
      global_batch_size=config.batch_size,
      image_size=config.image_size,
      training=True,
      flip=config.flip,
      deterministic=config.deterministic,
      seed=config.seed + context.input_pipeline_id,
      input_context=context,
    )
    # Each step takes one batch per replica this pipeline feeds.
    per_step = context.num_replicas_in_sync // context.num_input_pipelines
    return dataset.skip(steps_done * per_step)

  return strategy.distribute_datasets_from_function(dataset_fn)


def _make_train_step(config, strategy, task, optimizer, stage, steps_left):
  def make(jit_compile: bool):
    return distillation.make_train_step(
      strategy, task, optimizer, stage, config.batch_size, jit_compile
    )

  if xla_choice.worth_measuring(
    config, steps_left, strategy.num_replicas_in_sync
  ):
    return xla_choice.MeasuredStep(make(False), make(True), f"stage{stage}")
  return make(config.use_xla)


def run_stage(
  stage: int,
  total_steps: int,
  config: Config,
  state: TrainState,
  strategy,
  data_dir: str,
  manager,
  writer,
  eval_batch: Optional[Dict],
  stop: Optional[run_control.StopRequest] = None,
  monitor: Optional[attribute_monitor.AttributeMonitor] = None,
) -> None:
  """Runs one stage from the optimizer's current step to `total_steps`.

  Raises:
    run_control.Stopped: `stop` was set; the step's checkpoint is saved.
  """
  optimizer = state.optimizers[stage]
  step = int(optimizer.iterations.numpy())
  if step >= total_steps:
    return
  logging.info("Stage %d: step %d of %d", stage, step, total_steps)
  task = distillation.DistillationTask(
    config, state.teacher, state.generator, state.scales
  )
  train_step = _make_train_step(
    config, strategy, task, optimizer, stage, total_steps - step
  )
  if step:
    logging.info(
      "Stage %d: skipping the %d batches already trained on", stage, step
    )
  iterator = iter(_distributed_dataset(strategy, config, data_dir, step))
  meter = progress.RateMeter(step)
  window = summaries.MeanWindow()
  name = f"stage{stage}"
  skipped = state.skipped_steps[stage]
  guard = finite_guard.NonFiniteSteps(config, name, int(skipped.numpy()))
  try:
    while step < total_steps:
      logs, applied = train_step(iterator, guard.poison(step + 1))
      step += 1
      if guard.check(bool(applied), step):
        window.add({k: float(v) for k, v in logs.items()})
      else:
        skipped.assign(guard.skipped)
      if step % config.log_every == 0 or step == total_steps:
        rate = meter.tick(step)
        means = window.pop()
        means.update(guard.scalars())
        means["skipped_records"] = float(
          checked_reader.process_policy().skipped
        )
        lr = current_learning_rate(optimizer)
        summaries.write_scalars(
          writer, name, means, lr, rate, config.batch_size, state.global_step()
        )
        shown = {"loss": means.get("loss", math.nan)}
        shown.update(
          {
            k.split("/")[0] + "_total": v
            for k, v in means.items()
            if k.endswith("/total")
          }
        )
        logging.info(
          progress.progress_line(
            name,
            step,
            total_steps,
            shown,
            rate,
            config.batch_size,
            meter.eta(step, total_steps),
          )
        )
      if eval_batch is not None and (
        step % config.image_every == 0 or step == total_steps
      ):
        summaries.write_image_grid(
          writer, name, state.generator, eval_batch, config, state.global_step()
        )
      if monitor is not None and (
        step % config.eval_every == 0 or step == total_steps
      ):
        monitor.write(writer, state.generator, state.global_step())
      # The stage's last step is saved once, by the caller, with the stage
      # marked done: saving one number twice rewrites a checkpoint in place,
      # which ram:// (no truncation on rewrite) turns into a corrupt one.
      if step % config.checkpoint_every == 0 and step != total_steps:
        manager.save(checkpoint_number=state.global_step())
      elif stop:
        manager.save(checkpoint_number=state.global_step())
      if stop:
        raise run_control.Stopped(
          f"stopped by {stop.signal_name} at {name} step {step}; the "
          f"checkpoint is saved: rerun the same command to resume"
        )
  except KeyboardInterrupt:
    logging.warning(
      "Interrupted: saving a checkpoint at %s step %d", name, step
    )
    manager.save(checkpoint_number=state.global_step())
    raise


def weights_digest(state: TrainState) -> str:
  """sha256 of the generator's weights, in order, to compare runs by."""
  digest = hashlib.sha256()
  for variable in state.generator.weights:
    digest.update(variable.path.encode())
    digest.update(keras.ops.convert_to_numpy(variable.value).tobytes())
  return f"sha256:{digest.hexdigest()[:16]}"


def chief_first(
  chief: bool,
  make,
  ready,
  what: str,
  timeout_s: float = 6 * 3600,
  poll_s: float = 5.0,
):
  """Runs `make` on the chief; other workers wait until `ready()`, then run it.

  For shared files (prepared data, the pretrained teacher) that every worker
  needs but only one must write; `make` finds them ready on the others.
  """
  if not chief:
    start = time.monotonic()
    while not ready():
      if time.monotonic() - start > timeout_s:
        raise TimeoutError(f"waited {timeout_s:.0f}s for the chief to {what}")
      time.sleep(poll_s)
  return make()


def calibrate_student(
  state: TrainState, config: Config, data_dir: str, num_images: int = 128
) -> None:
  """Measures the student's output constants on the teacher (fresh runs)."""
  dataset = input_pipeline.make_dataset(
    data_dir,
    "train",
    global_batch_size=num_images,
    image_size=config.image_size,
    training=True,
    flip=config.flip,
    deterministic=config.deterministic,
    seed=config.seed,
  )
  images = next(iter(dataset))["image"]
  real = state.teacher(
    teacher_lib.to_teacher_space(images, config.input_scaling), training=False
  )
  state.generator.student.calibrate(real)
  logging.info(
    "Calibrated the student's output scales on %d images", num_images
  )


def restore_newest_readable(checkpoint, workdir: str) -> Optional[str]:
  """Restores the newest checkpoint that reads back; returns its prefix.

  A newest checkpoint that cannot be read (damaged or missing files) is
  passed over with a warning for the one before it; variables it half
  restored are all overwritten by the older one, which holds the same ones.

  Raises:
    UsageError: checkpoints exist but none can be read.
  """
  candidates = workdir_lib.checkpoints_newest_first(workdir)
  for prefix in candidates:
    try:
      checkpoint.restore(prefix).expect_partial()
      return prefix
    except (tf.errors.OpError, IndexError, ValueError) as e:
      reason = (str(e).strip().splitlines() or [""])[-1]
      logging.warning(
        "Checkpoint %s cannot be read (%s: %s); trying the one before it",
        prefix,
        type(e).__name__,
        reason[:200],
      )
  if candidates:
    raise UsageError(
      f"none of the {len(candidates)} checkpoints in "
      f"{workdir_lib.checkpoint_dir(workdir)} can be read: move them away to "
      f"start over, or use another --workdir"
    )
  return None


def train_and_export(config: Config, workdir: str) -> Optional[str]:
  """Trains SDN as `config` says in `workdir`; returns the export path."""
  strategy = distribute.get_strategy(
    config.strategy, config.num_cpu_devices, config.tpu
  )
  replicas = strategy.num_replicas_in_sync
  if config.batch_size % replicas:
    raise UsageError(
      f"is the global batch, split evenly over the {replicas} replicas "
      f"of --strategy={config.strategy}: got {config.batch_size}",
      flag="batch_size",
    )
  config = precision.resolve(config, strategy)
  keras.mixed_precision.set_global_policy(config.precision)
  chief = distribute.is_chief(strategy)
  files.makedirs(workdir)
  # Workers of one multi-worker run share the chief's work dir.
  lock = run_control.hold_workdir_lock(workdir) if chief else None
  try:
    return _train_and_export(config, workdir, strategy, chief)
  finally:
    if lock:
      lock.close()


def _train_and_export(
  config: Config, workdir: str, strategy, chief: bool
) -> Optional[str]:
  keras.utils.set_random_seed(config.seed)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  checked_reader.set_process_policy(
    checked_reader.BadRecordPolicy(strict=config.strict)
  )
  data_dir = chief_first(
    chief,
    lambda: preparation.ensure_prepared(config),
    lambda: preparation.is_prepared(config),
    "prepare the data",
  )
  metadata = input_pipeline.read_metadata(data_dir)
  if chief:
    for name, (before, now) in workdir_lib.check_config_change(
      workdir, config
    ).items():
      logging.warning(
        "--%s changed since this work dir's last run: %r, now %r",
        name,
        before,
        now,
      )
    workdir_lib.write_config(workdir, config)
    for path in workdir_lib.remove_unfinished_checkpoints(workdir):
      logging.warning("Removed %s: a checkpoint save cut short", path)
  # Each phase starts from the seed, not from whatever random state the
  # phases before it left: a rerun that finds the teacher cached must build
  # the same text encoder and student as the run that pretrained it.
  keras.utils.set_random_seed(config.seed)
  teacher_weights = chief_first(
    chief,
    lambda: teacher_pretraining.resolve_teacher_weights(
      config, workdir, data_dir
    ),
    lambda: teacher_pretraining.teacher_ready(config, workdir),
    "pretrain the teacher",
  )

  keras.utils.set_random_seed(config.seed)
  text_encoder_weights = chief_first(
    chief,
    lambda: text_pretraining.resolve_encoder_weights(
      config,
      workdir,
      data_dir,
      lambda: builders.make_encoder(config, data_dir),
      lambda: teacher_lib.build_teacher(
        config.image_size, teacher_weights, config.teacher_pooling
      ),
      lambda: teacher_lib.identity(
        teacher_weights,
        config.image_size,
        config.teacher_pooling,
        config.input_scaling,
      ),
    ),
    lambda: (
      not config.text_pretrain_steps
      or files.exists(text_pretraining.cached_paths(workdir)[0])
    ),
    "pretrain the text encoder",
  )

  steps = stage_steps(config, metadata)
  keras.utils.set_random_seed(config.seed)
  with strategy.scope():
    state = TrainState(
      config, data_dir, teacher_weights, metadata.get("embedding_dim"), steps
    )
  manager = tf.train.CheckpointManager(
    state.checkpoint,
    _checkpoint_dir(workdir, strategy),
    max_to_keep=config.keep_checkpoints,
  )
  # Every worker resumes from the chief's checkpoints: a non-chief's own
  # directory is a fresh temporary one.
  latest = restore_newest_readable(state.checkpoint, workdir)
  if latest:
    logging.info(
      "Resumed from %s (stage %d, step %d)",
      latest,
      int(state.stage.numpy()),
      state.global_step(),
    )
  else:
    if text_encoder_weights:
      text_pretraining.load_encoder_weights(
        state.generator.encoder, text_encoder_weights
      )
      logging.info("Text encoder starts from %s", text_encoder_weights)
    if config.calibrated_outputs:
      calibrate_student(state, config, data_dir)

  writer = summaries.make_writer(workdir, chief)
  summaries.write_config(writer, config)
  eval_batch = (
    summaries.fixed_eval_batch(config, data_dir)
    if chief and config.num_eval_captions
    else None
  )
  monitor = (
    attribute_monitor.AttributeMonitor(config, data_dir)
    if chief and config.eval_every
    else None
  )
  # From here on a SIGTERM or SIGINT ends the step in flight, saves and
  # exits 0 (pretraining above has no checkpoints to save: it just dies).
  stop = run_control.StopRequest()
  if threading.current_thread() is threading.main_thread():
    stop.install()
  try:
    for stage in (STAGE_ONE, STAGE_TWO):
      # Stage I is never re-entered once Stage II has begun. Stage II is,
      # even when done: a rerun with more --stage2_steps trains on from the
      # saved step (run_stage returns at once when no step is left).
      if int(state.stage.numpy()) > stage and stage != STAGE_TWO:
        continue
      steps_before = state.global_step()
      run_stage(
        stage,
        steps[stage],
        config,
        state,
        strategy,
        data_dir,
        manager,
        writer,
        eval_batch,
        stop,
        monitor,
      )
      if (
        int(state.stage.numpy()) <= stage or state.global_step() > steps_before
      ):
        state.stage.assign(stage + 1)
        manager.save(checkpoint_number=state.global_step())
  finally:
    stop.uninstall()
    writer.flush()
  # Workers of one synchronous run must print the same line.
  logging.info("Student weights after training: %s", weights_digest(state))
  if not chief:
    # A non-chief's checkpoints only kept the collectives in step.
    files.rmtree(manager.directory, ignore_errors=True)

  if not (config.export and chief):
    return None
  from sdn_tf.serving import export_lib  # pylint: disable=g-import-not-at-top

  path = export_lib.export_generator(
    state.generator,
    config,
    data_dir,
    workdir_lib.export_dir(workdir),
    keep_exports=config.keep_exports,
  )
  logging.info("Exported the generator to %s", path)
  return path
