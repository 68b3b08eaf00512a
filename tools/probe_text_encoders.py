"""Does a caption encoder read word pairs it never saw together?

Usage, from the repository root:

  python tools/probe_text_encoders.py --flagfile=configs/shapes.cfg
      --teacher=runs/shapes/teacher/vgg19_pretrained.weights.h5
      [--hold_out=circle:green,square:red,triangle:blue,cross:white]
      [--architectures=cnn_rnn,bag_of_words] [--out=probe.json]

Built-in shapes only, and the validation split only (the test split's
held-out classes stay closed): the (shape, colour) pairs of --hold_out are
training classes, left out of the encoder's alignment and of the probe's
fit, then read from validation captions. For each architecture the encoder
is aligned as the main job aligns it (`text_pretraining.fit_encoder`, the
teacher's features at --text_pretrain_point of --text_pretrain_images
training images, less the held-out pairs); then a linear probe of each
attribute, fitted on training captions' embeddings, reads validation
captions (templates and paraphrases) of the seen and of the held-out
pairs. Prints a table and one JSON line. Runs in float32.

An experiment, not a test: a few minutes per architecture on 2 cores.
"""

import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top
import keras  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from sdn_tf import cli  # pylint: disable=g-import-not-at-top
from sdn_tf.evaluation import attribute_scores  # pylint: disable=g-import-not-at-top
from sdn_tf.evaluation import caption_parser  # pylint: disable=g-import-not-at-top
from sdn_tf.evaluation import linear_probe  # pylint: disable=g-import-not-at-top
from sdn_tf.evaluation import split_reader  # pylint: disable=g-import-not-at-top
from sdn_tf.models import teacher as teacher_lib  # pylint: disable=g-import-not-at-top
from sdn_tf.text import ARCHITECTURES  # pylint: disable=g-import-not-at-top
from sdn_tf.training import builders  # pylint: disable=g-import-not-at-top
from sdn_tf.training import precision  # pylint: disable=g-import-not-at-top
from sdn_tf.training import text_pretraining  # pylint: disable=g-import-not-at-top
from sdn_tf.utils import errors  # pylint: disable=g-import-not-at-top
from sdn_tf.utils import files  # pylint: disable=g-import-not-at-top

_PROG = "probe_text_encoders.py"

_TEACHER = flags.DEFINE_string(
  "teacher", None, "The pretrained teacher's weights (.weights.h5)."
)
_HOLD_OUT = flags.DEFINE_list(
  "hold_out",
  ["circle:green", "square:red", "triangle:blue", "cross:white"],
  "shape:colour pairs of training classes to leave out of the alignment.",
)
_ARCHITECTURES = flags.DEFINE_list(
  "architectures", list(ARCHITECTURES), "Encoders to align and probe."
)
_PROBE_CAPTIONS = flags.DEFINE_integer(
  "probe_captions", 4000, "Training captions the probes are fitted on."
)
_OUT = flags.DEFINE_string("out", "", "Also write the results here (JSON).")


def _pair(caption) -> tuple:
  named = caption_parser.parse(caption)
  return named.get("shape"), named.get("colour")


def _named_labels(captions, metadata_attributes) -> np.ndarray:
  """[N, attributes]: the index of the value each caption names, or -1."""
  labels = -np.ones((len(captions), len(attribute_scores.ATTRIBUTES)), int)
  for i, caption in enumerate(captions):
    named = caption_parser.parse(caption)
    for j, attribute in enumerate(attribute_scores.ATTRIBUTES):
      if attribute in named:
        labels[i, j] = metadata_attributes[attribute].index(named[attribute])
  return labels


def _hold_out_pairs(values, metadata_attributes) -> set:
  pairs = set()
  for value in values:
    shape, _, colour = value.partition(":")
    if (
      shape not in metadata_attributes["shape"]
      or colour not in metadata_attributes["colour"]
    ):
      raise errors.UsageError(f"--hold_out: {value!r} is not a shape:colour")
    pairs.add((shape, colour))
  return pairs


def _probe(encoder, fit_captions, fit_labels, captions, labels, held) -> dict:
  """{attribute: [seen accuracy, held-out accuracy]}."""
  fitted = text_pretraining.embed(encoder, np.array(fit_captions))
  embedded = text_pretraining.embed(encoder, np.array(captions))
  out = {}
  for j, attribute in enumerate(attribute_scores.ATTRIBUTES):
    weights = linear_probe.fit(fitted, fit_labels[:, j])
    out[attribute] = [
      linear_probe.accuracy(weights, embedded[rows], labels[rows, j])
      for rows in (~held, held)
    ]
  return out


def run() -> dict:
  if not _TEACHER.value:
    raise errors.UsageError("--teacher: give the pretrained teacher's weights")
  for architecture in _ARCHITECTURES.value:
    if architecture not in ARCHITECTURES:
      raise errors.UsageError(f"--architectures: no {architecture!r}")
  # XLA as the main job would choose it; the probe itself runs in float32.
  config = precision.resolve(cli.config_from_flags())
  metadata = files.read_json(files.join(config.data_dir, "metadata.json"))
  values = metadata["attributes"]
  hold_out = _hold_out_pairs(_HOLD_OUT.value, values)
  teacher = teacher_lib.build_teacher(
    config.image_size, _TEACHER.value, config.teacher_pooling
  )
  captions, features = text_pretraining.teacher_features(
    teacher, config, config.data_dir, "train", config.text_pretrain_images
  )
  seen = np.array([_pair(row[0]) not in hold_out for row in captions])
  (targets,) = text_pretraining.standardise(features[seen])
  captions = captions[seen]

  # The probes' captions: training captions of the seen pairs; validation
  # captions, each image's own and its first paraphrase.
  train = split_reader.read_sample(
    config.data_dir, "train", _PROBE_CAPTIONS.value, config.image_size
  )
  fit_captions = [c for c in train.captions if _pair(c) not in hold_out]
  fit_labels = _named_labels(fit_captions, values)
  validation = split_reader.read_sample(
    config.data_dir, "validation", 10**6, config.image_size
  )
  sets = {
    "template": validation.captions,
    "paraphrase": [p[0] for p in validation.paraphrases if p],
  }
  results = {"hold_out": sorted(":".join(p) for p in hold_out)}
  for architecture in _ARCHITECTURES.value:
    arch_config = dataclasses.replace(config, text_architecture=architecture)
    keras.utils.set_random_seed(config.seed)
    encoder = builders.make_encoder(arch_config, config.data_dir)
    start = time.monotonic()
    _, losses = text_pretraining.fit_encoder(
      encoder,
      captions,
      targets,
      arch_config,
      np.random.default_rng(config.seed),
    )
    row = {
      "seconds": round(time.monotonic() - start, 1),
      "final_loss": round(float(np.mean(losses[-100:])), 4),
    }
    for name, texts in sets.items():
      held = np.array([_pair(c) in hold_out for c in texts])
      row[name] = _probe(
        encoder,
        fit_captions,
        fit_labels,
        texts,
        _named_labels(texts, values),
        held,
      )
      row[name]["captions"] = [int((~held).sum()), int(held.sum())]
    results[architecture] = row
  return results


def _print_table(results: dict) -> None:
  print("probe accuracy on validation captions, seen pairs / held-out pairs")
  for architecture in _ARCHITECTURES.value:
    row = results[architecture]
    for name in ("template", "paraphrase"):
      cells = [
        "/".join("-" if v is None else f"{v:.3f}" for v in row[name][a])
        for a in attribute_scores.ATTRIBUTES
      ]
      print(
        f"{architecture:13s} {name:10s} "
        + " ".join(
          f"{a}={c}" for a, c in zip(attribute_scores.ATTRIBUTES, cells)
        )
      )


def main(argv):
  del argv
  results = cli.run_reporting_user_errors(run, prog=_PROG)
  _print_table(results)
  cli.report_json_line(results, _OUT.value)


if __name__ == "__main__":
  cli.define_config_flags()
  app.run(main, flags_parser=cli.flags_parser(_PROG))
