"""`--teacher_weights=pretrain`: VGG19 trained on the data set's own classes.

Where ImageNet weights cannot be downloaded (the built-in shapes), the
teacher is the same VGG19 architecture trained first as a classifier of the
training split's class labels - a generic discriminative model of *that*
data - then cached in the work dir and frozen. A rerun reuses the cache.
"""

import json
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from sdn_tf.config import Config
from sdn_tf.data import input_pipeline
from sdn_tf.models import teacher as teacher_lib
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import progress

WEIGHTS_NAME = "vgg19_pretrained.weights.h5"
REPORT_NAME = "vgg19_pretrained.json"


def cached_paths(workdir: str):
  folder = workdir_lib.teacher_dir(workdir)
  return os.path.join(folder, WEIGHTS_NAME), os.path.join(folder, REPORT_NAME)


def build_classifier(image_size: int, num_classes: int) -> keras.Model:
  """VGG19 (no top) + global average pooling + a linear class layer."""
  vgg = teacher_lib.build_vgg19(image_size, weights=None)
  features = keras.layers.GlobalAveragePooling2D(name="gap")(vgg.output)
  logits = keras.layers.Dense(
    num_classes, dtype="float32", name="class_logits"
  )(features)
  return keras.Model(vgg.input, logits, name="vgg19_classifier")


def unit_variance_init(classifier: keras.Model, images: tf.Tensor) -> None:
  """Rescales each conv kernel so its output has unit spread on `images`.

  Keras' VGG19 starts from Glorot-uniform kernels, under which each of the
  16 stacked ReLU convs halves the signal's variance and caffe-scaled inputs
  (about +-120) make the first layers' outputs huge: from scratch, the
  classifier barely learns. Layer-sequential unit-variance initialisation
  (Mishkin & Matas, "All you need is a good init", 2016) fixes both by
  measuring each conv's output on real images and dividing its kernel by
  the standard deviation, in order from the input up.
  """
  x = images
  for layer in classifier.layers[1:]:
    if isinstance(layer, keras.layers.Conv2D):
      std = float(tf.math.reduce_std(tf.cast(layer(x), tf.float32)))
      if std > 0:
        layer.kernel.assign(layer.kernel / std)
    if layer.name == "block5_pool":
      break
    x = layer(x)


def _teacher_space_dataset(
  config: Config, data_dir: str, split: str, training: bool
):
  dataset = input_pipeline.make_dataset(
    data_dir,
    split,
    global_batch_size=config.batch_size,
    image_size=config.image_size,
    training=training,
    flip=config.flip,
    deterministic=not training,
    seed=config.seed,
  )
  scaling = config.input_scaling
  return dataset.map(
    lambda b: (teacher_lib.to_teacher_space(b["image"], scaling), b["label"])
  )


def evaluate_accuracy(classifier: keras.Model, dataset, train_labels) -> dict:
  """Accuracy on `dataset`, overall and on classes seen in training."""
  correct = total = seen_correct = seen_total = 0
  for images, labels in dataset:
    predicted = np.argmax(classifier(images, training=False), axis=-1)
    labels = labels.numpy()
    hits = predicted == labels
    seen = np.isin(labels, train_labels)
    correct += hits.sum()
    total += len(labels)
    seen_correct += hits[seen].sum()
    seen_total += seen.sum()
  return {
    "accuracy": correct / max(total, 1),
    "accuracy_seen_classes": seen_correct / max(seen_total, 1),
    "num_examples": int(total),
  }


def pretrain_teacher(config: Config, workdir: str, data_dir: str) -> str:
  """Trains (or reuses) the classifier teacher; returns its weights path.

  The result is the VGG19 part's weights, loadable with
  `teacher.build_teacher(..., weights=path)`.
  """
  weights_path, report_path = cached_paths(workdir)
  if os.path.exists(weights_path):
    report = {}
    if os.path.exists(report_path):
      with open(report_path) as f:
        report = json.load(f)
    logging.info(
      "Reusing the pretrained teacher %s (held-out accuracy %s)",
      weights_path,
      report.get("test", {}).get("accuracy", "?"),
    )
    return weights_path

  metadata = input_pipeline.read_metadata(data_dir)
  num_classes = int(metadata["num_classes"])
  classifier = build_classifier(config.image_size, num_classes)
  optimizer = keras.optimizers.Adam(config.pretrain_learning_rate)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  @tf.function(jit_compile=config.jit_compile)
  def train_step(images, labels):
    with tf.GradientTape() as tape:
      logits = classifier(images, training=True)
      loss = loss_fn(labels, logits)
    variables = classifier.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    accuracy = tf.reduce_mean(
      tf.cast(
        tf.equal(
          tf.argmax(logits, -1, output_type=tf.int32), tf.cast(labels, tf.int32)
        ),
        tf.float32,
      )
    )
    return loss, accuracy

  train_data = _teacher_space_dataset(config, data_dir, "train", True)
  unit_variance_init(classifier, next(iter(train_data))[0])
  steps = config.pretrain_steps
  meter = progress.RateMeter()
  seen_labels = set()
  start = time.time()
  for step, (images, labels) in enumerate(train_data.take(steps), start=1):
    seen_labels.update(labels.numpy().tolist())
    loss, accuracy = train_step(images, labels)
    if step % config.log_every == 0 or step == steps:
      rate = meter.tick(step)
      logging.info(
        progress.progress_line(
          "teacher pretraining",
          step,
          steps,
          {"loss": float(loss), "accuracy": float(accuracy)},
          rate,
          config.batch_size,
          meter.eta(step, steps),
        )
      )

  test_data = _teacher_space_dataset(config, data_dir, "test", False)
  report = {
    "steps": steps,
    "seconds": round(time.time() - start, 1),
    "test": evaluate_accuracy(classifier, test_data, sorted(seen_labels)),
  }
  logging.info(
    "Teacher pretrained in %s: held-out accuracy %.3f (%.3f on "
    "classes seen in training)",
    progress.format_duration(report["seconds"]),
    report["test"]["accuracy"],
    report["test"]["accuracy_seen_classes"],
  )
  os.makedirs(os.path.dirname(weights_path), exist_ok=True)
  vgg = keras.Model(
    classifier.input, classifier.get_layer("block5_pool").output
  )
  # Written under a temporary name so a crash never leaves a half file
  # that a rerun would take for a finished teacher.
  partial = weights_path.replace(".weights.h5", ".partial.weights.h5")
  vgg.save_weights(partial)
  with open(report_path, "w") as f:
    json.dump(report, f, indent=2)
  os.replace(partial, weights_path)
  return weights_path


def resolve_teacher_weights(config: Config, workdir: str, data_dir: str):
  """What `build_teacher(weights=...)` takes for `--teacher_weights`."""
  choice = config.teacher_weights
  if choice == "random":
    return None
  if choice == "imagenet":
    return "imagenet"
  if choice == "pretrain":
    return pretrain_teacher(config, workdir, data_dir)
  if not os.path.isfile(choice):
    raise FileNotFoundError(f"--teacher_weights={choice}: no such file")
  return choice
