"""`--teacher_weights=pretrain`: VGG19 trained on the data set's own labels.

Where ImageNet weights cannot be downloaded (the built-in shapes), the
teacher is the same VGG19 architecture trained first as a classifier of the
training split - a generic discriminative model of *that* data - then
cached in the work dir and frozen. A rerun reuses the cache.

It has one linear head per attribute when the records carry attributes
(shapes: shape, colour, size, position, background), else one class head:
a teacher trained on (shape, colour) classes alone learns to ignore the
background, size and position that captions also name, and then cannot
teach them. Its report gives each head's accuracy on the validation split
(images of the training classes) and on the test split.
"""

import time
from typing import Dict

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import finite_guard
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.training import xla_choice
from sdn_tf.utils import files
from sdn_tf.utils import progress

WEIGHTS_NAME = "vgg19_pretrained.weights.h5"
REPORT_NAME = "vgg19_pretrained.json"
# The recipe (Adam, warmed up then cosine-decayed). Without BatchNorm the
# 16 stacked convs need the warm-up to start at --pretrain_learning_rate.
WARMUP_FRACTION = 0.1
FINAL_LR_FRACTION = 0.02
# Each conv after the first starts as the identity plus this much of its
# Glorot kernel (see unit_variance_init).
IDENTITY_INIT = 0.5
# Flags whose change makes a cached teacher stale.
_SETTINGS = (
  "teacher_pooling",
  "input_scaling",
  "image_size",
  "pretrain_steps",
  "pretrain_learning_rate",
  "batch_size",
  "precision",
  "seed",
)


def cached_paths(workdir: str):
  folder = workdir_lib.teacher_dir(workdir)
  return files.join(folder, WEIGHTS_NAME), files.join(folder, REPORT_NAME)


CLASS_HEAD = "class"


def head_sizes(metadata: Dict) -> Dict[str, int]:
  """{head: number of values}: the data's attributes, else its classes."""
  attributes = metadata.get("attributes") or {}
  if attributes:
    return {name: len(values) for name, values in attributes.items()}
  return {CLASS_HEAD: int(metadata["num_classes"])}


def head_labels(batch: Dict[str, tf.Tensor], heads) -> Dict[str, tf.Tensor]:
  """A pipeline batch's labels, one [B] tensor per head of `heads`."""
  if list(heads) == [CLASS_HEAD]:
    return {CLASS_HEAD: batch["label"]}
  return {name: batch["attributes"][:, i] for i, name in enumerate(heads)}


def build_classifier(
  image_size: int, heads: Dict[str, int], pooling: str = "avg"
) -> keras.Model:
  """VGG19 (no top) + global average pooling + one linear layer per head.

  The pools are `pooling`'s, as the teacher built from these weights will
  have (`teacher.tap_mirror_points`): features learnt behind max pools are
  not the ones an average-pooled teacher computes.
  """
  vgg = teacher_lib.build_vgg19(image_size, weights=None)
  taps = teacher_lib.tap_mirror_points(vgg, pooling)
  features = keras.layers.GlobalAveragePooling2D(name="gap")(
    taps.output["block5_pool"]
  )
  logits = {
    name: keras.layers.Dense(size, dtype="float32", name=f"{name}_logits")(
      features
    )
    for name, size in heads.items()
  }
  return keras.Model(taps.input, logits, name="vgg19_classifier")


def unit_variance_init(classifier: keras.Model, images: tf.Tensor) -> None:
  """Rescales each conv kernel so its output has unit spread on `images`.

  Keras' VGG19 starts from Glorot-uniform kernels, under which each of the
  16 stacked ReLU convs halves the signal's variance and caffe-scaled inputs
  (about +-120) make the first layers' outputs huge: from scratch, the
  classifier barely learns. Layer-sequential unit-variance initialisation
  (Mishkin & Matas, "All you need is a good init", 2016) fixes both by
  measuring each conv's output on real images and dividing its kernel by
  the standard deviation, in order from the input up.

  Unit variance is not enough: through 15 random ReLU convs every image
  comes out nearly the same, and the loss sits at log(classes) for hundreds
  of steps. So each conv but the first starts as the identity on its first
  min(in, out) channels plus IDENTITY_INIT times its Glorot kernel (a
  "Dirac" init, as in Xiao et al., 2018): the image's first-layer features
  reach the class layer at once, and the noise breaks the symmetry of the
  channels the identity leaves out. The architecture is unchanged.
  """
  x = images
  first = True
  for layer in classifier.layers[1:]:
    if isinstance(layer, keras.layers.Conv2D):
      if IDENTITY_INIT and not first:
        _identity_plus_noise(layer, IDENTITY_INIT)
      first = False
      std = float(tf.math.reduce_std(tf.cast(layer(x), tf.float32)))
      if std > 0:
        layer.kernel.assign(layer.kernel / std)
    if layer.name == "block5_pool":
      break
    x = layer(x)


def _identity_plus_noise(layer, noise: float) -> None:
  kh, kw, cin, cout = layer.kernel.shape
  dirac = np.zeros((kh, kw, cin, cout), np.float32)
  n = min(cin, cout)
  dirac[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
  glorot = keras.ops.convert_to_numpy(layer.kernel).astype(np.float32)
  layer.kernel.assign(dirac + noise * glorot)


def _teacher_space_dataset(
  config: Config,
  data_dir: str,
  split: str,
  heads: Dict[str, int],
  training: bool,
  batch_size: int,
  num_examples: int = 0,
):
  # Decoded once and kept in memory (10,000 shapes: 120 MB of uint8): the
  # run reads the split more than once. The pipeline's default shuffle
  # buffer already holds the whole split when it fits.
  extra = dict(cache=True) if training and num_examples else {}
  dataset = input_pipeline.make_dataset(
    data_dir,
    split,
    global_batch_size=batch_size,
    image_size=config.image_size,
    training=training,
    flip=config.flip,
    deterministic=config.deterministic or not training,
    seed=config.seed,
    drop_remainder=training,
    **extra,
  )
  scaling = config.input_scaling
  return dataset.map(
    lambda b: (
      teacher_lib.to_teacher_space(b["image"], scaling),
      head_labels(b, heads),
      b["label"],
    )
  )


def evaluate_accuracy(
  classifier: keras.Model, dataset, train_labels, jit_compile: bool = False
) -> dict:
  """Each head's accuracy on `dataset`: overall, on images of the classes
  seen in training and on the others (held-out pairs: a class head cannot
  get them right; attribute heads can)."""
  predict = tf.function(
    lambda images: {
      k: tf.argmax(v, -1, output_type=tf.int32)
      for k, v in classifier(images, training=False).items()
    },
    jit_compile=jit_compile,
    reduce_retracing=True,
  )
  hits, seen = {}, []
  for images, labels, classes in dataset:
    for head, predicted in predict(images).items():
      hits.setdefault(head, []).append(
        predicted.numpy() == labels[head].numpy()
      )
    seen.append(np.isin(classes.numpy(), train_labels))
  seen = np.concatenate(seen) if seen else np.zeros([0], bool)

  def mean(values):
    return float(values.mean()) if values.size else None

  report = {
    "num_examples": int(seen.size),
    "num_seen_class_examples": int(seen.sum()),
  }
  for head, head_hits in hits.items():
    head_hits = np.concatenate(head_hits)
    report[head] = {
      "accuracy": mean(head_hits),
      "accuracy_seen_classes": mean(head_hits[seen]),
      "accuracy_unseen_classes": mean(head_hits[~seen]),
    }
  return report


def weakest_head(split_report: dict, key: str = "accuracy") -> float:
  """The lowest accuracy `key` over the heads of one split's report."""
  values = [
    v[key] for v in split_report.values() if isinstance(v, dict) and v[key]
  ]
  return min(values) if values else 0.0


def _make_optimizer(config: Config, steps: int):
  """Adam, warmed up linearly then cosine-decayed over `steps`."""
  warmup = int(round(WARMUP_FRACTION * steps))
  schedule = keras.optimizers.schedules.CosineDecay(
    0.0 if warmup else config.pretrain_learning_rate,
    decay_steps=max(steps - warmup, 1),
    alpha=FINAL_LR_FRACTION,
    warmup_target=config.pretrain_learning_rate if warmup else None,
    warmup_steps=warmup,
  )
  optimizer = keras.optimizers.Adam(schedule)
  if config.precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def _settings(config: Config) -> dict:
  """The flags that shape the pretrained teacher."""
  return {name: getattr(config, name) for name in _SETTINGS}


def pretrain_teacher(config: Config, workdir: str, data_dir: str) -> str:
  """Trains (or reuses) the classifier teacher; returns its weights path.

  The result is the VGG19 part's weights, loadable with
  `teacher.build_teacher(..., weights=path)`; it is trained with
  `config.teacher_pooling`, the pooling that teacher will use.
  """
  weights_path, report_path = cached_paths(workdir)
  if files.exists(weights_path):
    stale = workdir_lib.cache_differences(report_path, _settings(config))
    if not stale:
      report = files.read_json(report_path)
      logging.info(
        "Reusing the pretrained teacher %s (validation accuracy of its "
        "weakest head %s)",
        weights_path,
        weakest_head(report.get("validation", {})),
      )
      return weights_path
    logging.warning(
      "The cached teacher %s was pretrained with other flags (%s): "
      "pretraining it again",
      weights_path,
      stale,
    )

  start = time.time()
  metadata = input_pipeline.read_metadata(data_dir)
  heads = head_sizes(metadata)
  classifier = build_classifier(
    config.image_size, heads, config.teacher_pooling
  )
  steps = config.pretrain_steps
  optimizer = _make_optimizer(config, steps)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def train_step(images, labels, poison):
    with tf.GradientTape() as tape:
      logits = classifier(images, training=True)
      # Summed: every head's gradient reaches the shared features whole.
      loss = tf.add_n([loss_fn(labels[h], logits[h]) for h in heads])
      loss = finite_guard.poisoned(loss, poison)
      scaled = loss
      if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        scaled = optimizer.scale_loss(loss)
    variables = classifier.trainable_variables
    gradients = tape.gradient(scaled, variables)
    applied = finite_guard.apply_if_finite(
      optimizer,
      gradients,
      variables,
      finite_guard.all_finite(loss, gradients),
    )
    accuracy = tf.reduce_mean(
      [
        tf.reduce_mean(
          tf.cast(
            tf.equal(tf.argmax(logits[h], -1, output_type=tf.int32), labels[h]),
            tf.float32,
          )
        )
        for h in heads
      ]
    )
    return (loss, accuracy), applied

  # No AutoGraph, as in distillation.make_train_step: faster to trace.
  # Long pretraining times the step with and without XLA, as Stage I does;
  # the optimizer's variables are made here, for both.
  optimizer.build(classifier.trainable_variables)

  def compiled(jit_compile: bool):
    return tf.function(train_step, jit_compile=jit_compile, autograph=False)

  step_fn = (
    xla_choice.MeasuredStep(compiled(False), compiled(True), "teacher_pretrain")
    if xla_choice.worth_measuring(config, steps)
    else compiled(config.use_xla)
  )
  train_data = _teacher_space_dataset(
    config,
    data_dir,
    "train",
    heads,
    True,
    config.batch_size,
    input_pipeline.count_examples(data_dir, "train"),
  )
  # One iterator for both: a second one would decode and shuffle the split
  # again (the cache is only kept once an iterator has read it all).
  batches = iter(train_data)
  images, labels, classes = next(batches)
  unit_variance_init(classifier, images)
  meter = progress.RateMeter()
  seen_labels = set()
  guard = finite_guard.NonFiniteSteps(config, "teacher_pretrain")
  for step in range(1, steps + 1):
    if step > 1:
      images, labels, classes = next(batches)
    seen_labels.update(classes.numpy().tolist())
    (loss, accuracy), applied = step_fn(images, labels, guard.poison(step))
    guard.check(bool(applied), step)
    if step % config.log_every == 0 or step == steps:
      rate = meter.tick(step)
      logging.info(
        progress.progress_line(
          "teacher pretraining",
          step,
          steps,
          {"loss": float(loss), "mean head accuracy": float(accuracy)},
          rate,
          config.batch_size,
          meter.eta(step, steps),
        )
      )
  seconds = time.time() - start

  report = {
    "steps": steps,
    "seconds": round(seconds, 1),
    "settings": _settings(config),
    "heads": heads,
  }
  for split in ("validation", "test"):
    if input_pipeline.has_split(data_dir, split):
      report[split] = evaluate_accuracy(
        classifier,
        _teacher_space_dataset(
          config, data_dir, split, heads, False, max(config.batch_size, 64)
        ),
        input_pipeline.training_classes(metadata) or sorted(seen_labels),
        config.use_xla,
      )
  report["eval_seconds"] = round(time.time() - start - seconds, 1)
  logging.info(
    "Teacher pretrained in %s; validation accuracy per head: %s",
    progress.format_duration(report["seconds"]),
    ", ".join(
      f"{h} {report['validation'][h]['accuracy']:.3f}"
      for h in heads
      if "validation" in report
    )
    or "no validation split",
  )
  # The input of "gap", not block5_pool.output: a shared max pool's
  # .output is the one of the VGG19 graph it came from.
  vgg = keras.Model(classifier.input, classifier.get_layer("gap").input)
  # The old report goes first and the new one comes last: weights without
  # a report read as stale, never as a finished cache.
  files.remove(report_path)
  _save_weights(vgg, weights_path)
  files.write_json(report_path, report)
  return weights_path


def _save_weights(vgg: keras.Model, path: str) -> None:
  """Written under a temporary name so a crash never leaves a half file
  that a rerun would take for a finished teacher."""
  files.makedirs(files.split(path)[0])
  partial = path.replace(".weights.h5", ".partial.weights.h5")
  vgg.save_weights(partial)
  files.replace(partial, path)


def random_teacher_path(workdir: str, seed: int) -> str:
  return files.join(
    workdir_lib.teacher_dir(workdir), f"vgg19_random_seed{seed}.weights.h5"
  )


def random_teacher(config: Config, workdir: str) -> str:
  """`--teacher_weights=random`: one seeded random VGG19, saved once.

  Saved so that the text encoder is aligned with the very teacher the
  student then distils from, and a resumed run distils from it again;
  built in place, each would draw its own weights from whatever the
  random state was at that moment.
  """
  path = random_teacher_path(workdir, config.seed)
  if not files.exists(path):
    keras.utils.set_random_seed(config.seed)
    _save_weights(teacher_lib.build_vgg19(config.image_size), path)
  return path


def teacher_ready(config: Config, workdir: str) -> bool:
  """Whether the weights `resolve_teacher_weights` would make exist."""
  if config.teacher_weights == "pretrain":
    return files.exists(cached_paths(workdir)[0])
  if config.teacher_weights == "random":
    return files.exists(random_teacher_path(workdir, config.seed))
  return True


def resolve_teacher_weights(config: Config, workdir: str, data_dir: str):
  """What `build_teacher(weights=...)` takes for `--teacher_weights`."""
  choice = config.teacher_weights
  if choice == "random":
    return random_teacher(config, workdir)
  if choice == "imagenet":
    return "imagenet"
  if choice == "pretrain":
    return pretrain_teacher(config, workdir, data_dir)
  if not files.isfile(choice):
    raise FileNotFoundError(f"--teacher_weights={choice}: no such file")
  return choice
