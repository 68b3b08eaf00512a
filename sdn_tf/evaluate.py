"""Evaluates an exported generator: the numbers a results table reports.

  python -m sdn_tf.evaluate --model_dir=runs/shapes/export \
      --data_dir=data/shapes/records --split=test --seeds=3 --out=metrics.json

Draws one caption of each of `--num_images` images of the split (a seeded
sample), `--seeds` times each, and reports:
  * data with attributes (the built-in shapes): per-attribute accuracy of
    the drawn images, read by the evaluator network and compared with what
    each caption names (`evaluation.caption_parser`), for seen and held-out
    classes apart and for the paraphrase captions; the share with every
    named attribute right; FID between drawn and real images in the
    evaluator's feature space; diversity over the seeds; and the
    evaluator's own accuracy on real test images (< 0.98 on any attribute
    marks the metrics "not trusted");
  * other data: Inception Score (10 splits) and FID with InceptionV3;
  * with --matching_model (any data): R-precision, the share of drawn
    images whose own caption ranks first among 100 by the matching model's
    similarity (`evaluation.matching_model` says what it must expose).
`--captions_file` adds the user's own captions (one a line), scored on
what they name when the data has attributes.

Tune on --split=validation; report numbers from --split=test.
Prints a table and one JSON line, and writes the JSON to --out.
"""

import time
from typing import Dict
from typing import List

from absl import app
from absl import flags
from absl import logging
import numpy as np

from sdn_tf import cli
from sdn_tf import evaluation
from sdn_tf.evaluation import attribute_scores
from sdn_tf.evaluation import metrics
from sdn_tf.serving import loading
from sdn_tf.utils import files
from sdn_tf.utils import progress
from sdn_tf.utils.errors import UsageError

_PROG = "sdn_tf.evaluate"
METRICS = ("attributes", "fid", "diversity", "inception_score", "r_precision")

_MODEL_DIR = flags.DEFINE_string(
  "model_dir", None, "Export root or a SavedModel version dir."
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir", "data/shapes/records", "Prepared records (the real images)."
)
_SPLIT = flags.DEFINE_enum(
  "split", "validation", ["validation", "test"], "Split to evaluate on."
)
_CAPTIONS_FILE = flags.DEFINE_string(
  "captions_file", None, "Extra captions to draw, one a line."
)
_NUM_IMAGES = flags.DEFINE_integer(
  "num_images",
  320,
  "Images of the split to evaluate, one caption each.",
  lower_bound=1,
)
_SEEDS = flags.DEFINE_integer(
  "seeds", 1, "Images drawn per caption (noise seeds 0..K-1).", lower_bound=1
)
_METRICS = flags.DEFINE_list(
  "metrics", list(METRICS), f"Which of {', '.join(METRICS)} to compute."
)
_OUT = flags.DEFINE_string("out", None, "Write the JSON report here.")
_SAMPLE_SEED = flags.DEFINE_integer(
  "sample_seed", 0, "Seed of the image and caption sample."
)
_EVALUATOR_STEPS = flags.DEFINE_integer(
  "evaluator_steps",
  evaluation.EVALUATOR_STEPS,
  "Training steps of the evaluator network (cached per value).",
  lower_bound=1,
)
_INCEPTION_WEIGHTS = flags.DEFINE_string(
  "inception_weights",
  "imagenet",
  "InceptionV3 for IS/FID of natural images: 'imagenet' or a Keras model "
  "file (e.g. a birds- or flowers-fine-tuned Inception).",
)
_MATCHING_MODEL = flags.DEFINE_string(
  "matching_model",
  "",
  "A text-image matching SavedModel with encode_images and encode_text "
  "(see sdn_tf/evaluation/matching_model.py): adds R-precision.",
)
_BATCH = 64
R_PRECISION_CANDIDATES = 100


def _draw(signature, captions: List[str], seeds: int) -> np.ndarray:
  """uint8 [N, K, R, R, 3], with a progress line on long work."""
  meter = progress.RateMeter()
  parts = []
  for start in range(0, len(captions), _BATCH):
    parts.append(
      loading.draw(signature, captions[start : start + _BATCH], seeds, 0)
    )
    done = start + len(parts[-1])
    meter.tick(done)
    if len(captions) > _BATCH:
      eta = meter.eta(done, len(captions))
      logging.info(
        "drawn %d/%d captions x %d seeds | ETA %s",
        done,
        len(captions),
        seeds,
        "?" if eta is None else progress.format_duration(eta),
      )
  return np.concatenate(parts)


def _read_captions_file(path: str) -> List[str]:
  if not files.isfile(path):
    raise UsageError(f"{path}: no such file", flag="captions_file")
  lines = [
    line.strip() for line in files.read_text(path, "replace").splitlines()
  ]
  captions = [line for line in lines if line]
  if not captions:
    raise UsageError(f"{path} holds no caption", flag="captions_file")
  return captions


def _flat_predictions(evaluator, images: np.ndarray) -> Dict[str, np.ndarray]:
  """Evaluator outputs of [N, K, ...] images, reshaped to [N, K, ...]."""
  n, k = images.shape[:2]
  out = evaluator.run(images.reshape((n * k,) + images.shape[2:]))
  return {name: v.reshape((n, k) + v.shape[1:]) for name, v in out.items()}


def _shapes_report(
  evaluator, signature, sample, drawn, training_classes, wanted, seeds, extra
):
  report = {"evaluator": evaluator.report, "trusted": evaluator.trusted}
  predicted = _flat_predictions(evaluator, drawn)
  seen = np.isin(sample.labels, training_classes)
  if "attributes" in wanted:
    report["template"] = attribute_scores.score(sample.captions, predicted)
    report["template_seen"] = attribute_scores.score(
      sample.captions, predicted, seen
    )
    report["template_held_out"] = attribute_scores.score(
      sample.captions, predicted, ~seen
    )
    with_paraphrase = [i for i, p in enumerate(sample.paraphrases) if p]
    if with_paraphrase:
      captions = [sample.paraphrases[i][0] for i in with_paraphrase]
      report["paraphrase"] = attribute_scores.score(
        captions,
        _flat_predictions(evaluator, _draw(signature, captions, seeds)),
      )
  if "fid" in wanted:
    real = evaluator.run(sample.images)["features"]
    report["fid"] = metrics.fid(predicted["features"][:, 0], real)
  if "diversity" in wanted and seeds > 1:
    report["diversity"] = metrics.diversity(list(predicted["features"]))
  if extra:
    report["captions_file"] = attribute_scores.score(
      extra, _flat_predictions(evaluator, _draw(signature, extra, seeds))
    )
  return report


def _natural_report(signature, sample, drawn, wanted, seeds, extra, weights):
  from sdn_tf.evaluation import inception  # pylint: disable=g-import-not-at-top

  scorer = inception.InceptionScorer(weights)
  if extra:
    drawn = np.concatenate([drawn, _draw(signature, extra, seeds)])
  flat = drawn.reshape((-1,) + drawn.shape[2:])
  generated = scorer.run(flat)
  report = {"inception_model": scorer.name}
  if "inception_score" in wanted:
    mean, std = metrics.inception_score(generated["probabilities"], 10)
    report["inception_score"] = {"mean": mean, "std": std, "splits": 10}
  if "fid" in wanted:
    real = scorer.run(sample.images)["features"]
    report["fid"] = metrics.fid(generated["features"], real)
  return report


def _load_matching_model(path: str):
  from sdn_tf.evaluation import matching_model  # pylint: disable=g-import-not-at-top

  try:
    return matching_model.MatchingModel(path)
  except (OSError, ValueError) as e:
    raise UsageError(str(e), flag="matching_model") from None


def _r_precision(model, images: np.ndarray, captions: List[str]) -> Dict:
  """R-precision of `images` [N, R, R, 3], image i drawn from caption i."""
  mean, std = metrics.r_precision(
    model.image_features(images),
    model.text_features(captions),
    candidates=R_PRECISION_CANDIDATES,
  )
  return {
    "mean": mean,
    "std": std,
    "candidates": min(R_PRECISION_CANDIDATES, len(captions)),
    "model": model.path,
  }


def evaluate(
  model_dir: str,
  data_dir: str,
  split: str = "validation",
  num_images: int = 320,
  seeds: int = 1,
  wanted=METRICS,
  captions_file=None,
  sample_seed: int = 0,
  evaluator_steps: int = evaluation.EVALUATOR_STEPS,
  inception_weights: str = "imagenet",
  matching_model: str = "",
) -> Dict:
  """The report `main` prints and writes; see the module docstring."""
  unknown = sorted(set(wanted) - set(METRICS))
  if unknown:
    raise UsageError(
      f"unknown metric(s) {unknown}; known: {METRICS}", "metrics"
    )
  start = time.time()
  path = loading.resolve_model_dir(model_dir)
  extra = _read_captions_file(captions_file) if captions_file else []
  if matching_model and not files.exists(matching_model):
    raise UsageError(
      f"{matching_model}: no such file or directory", "matching_model"
    )
  # Loaded after the checks above, which need no TensorFlow, so that a
  # wrong flag is reported in a second, not after TensorFlow's start.
  # pylint: disable=g-import-not-at-top
  from sdn_tf.data import input_pipeline
  from sdn_tf.evaluation import evaluator as evaluator_lib
  from sdn_tf.evaluation import split_reader

  # pylint: enable=g-import-not-at-top
  # Loaded before the model: a wrong path fails before minutes of drawing.
  matcher = (
    _load_matching_model(matching_model)
    if matching_model and "r_precision" in wanted
    else None
  )
  metadata = input_pipeline.read_metadata(data_dir)
  signature = loading.load_generate_signature(path)
  image_size = int(loading.draw(signature, ["a"], 1, 0).shape[2])
  try:
    sample = split_reader.read_sample(
      data_dir, split, num_images, image_size, sample_seed
    )
  except FileNotFoundError as e:
    raise UsageError(
      f"{e} (prepared before validation splits existed? prepare it again)",
      flag="data_dir",
    ) from e
  report = {
    "model_dir": path,
    "data_dir": data_dir,
    "split": split,
    "num_images": len(sample.captions),
    "seeds": seeds,
  }
  # Drawn once, for every metric below.
  drawn = _draw(signature, sample.captions, seeds)
  if metadata.get("attributes"):
    evaluator = evaluator_lib.load_or_train(
      data_dir,
      evaluator_lib.EvaluatorSettings(image_size, steps=evaluator_steps),
    )
    report.update(
      _shapes_report(
        evaluator,
        signature,
        sample,
        drawn,
        input_pipeline.training_classes(metadata),
        wanted,
        seeds,
        extra,
      )
    )
  else:
    report.update(
      _natural_report(
        signature, sample, drawn, wanted, seeds, extra, inception_weights
      )
    )
  if matcher is not None:
    report["r_precision"] = _r_precision(matcher, drawn[:, 0], sample.captions)
  report["seconds"] = round(time.time() - start, 1)
  return report


def format_table(report: Dict) -> str:
  """The report as a plain-text table, one row per caption set."""
  lines = []
  rows = [
    k
    for k in (
      "template",
      "template_seen",
      "template_held_out",
      "paraphrase",
      "captions_file",
    )
    if k in report
  ]
  if rows:
    columns = list(attribute_scores.ATTRIBUTES) + ["all_named_right"]
    lines.append(
      f"{'captions':<18}" + "".join(f"{c:>16}" for c in columns) + f"{'n':>6}"
    )
    for row in rows:
      cells = [report[row][c] for c in columns]
      lines.append(
        f"{row:<18}"
        + "".join(f"{'-' if v is None else f'{v:.3f}':>16}" for v in cells)
        + f"{report[row]['num_captions']:>6}"
      )
  for key in (
    "fid",
    "diversity",
    "inception_score",
    "inception_model",
    "r_precision",
  ):
    if key in report:
      lines.append(f"{key}: {report[key]}")
  if "evaluator" in report:
    accuracy = report["evaluator"]["test_accuracy"]
    lines.append(
      "evaluator accuracy on real test images: "
      + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items())
      + ("" if report["trusted"] else "  -- NOT TRUSTED (< 0.98)")
    )
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments {argv[1:]}", _PROG)
  report = cli.run_reporting_user_errors(
    evaluate,
    _MODEL_DIR.value,
    _DATA_DIR.value,
    _SPLIT.value,
    _NUM_IMAGES.value,
    _SEEDS.value,
    _METRICS.value,
    _CAPTIONS_FILE.value,
    _SAMPLE_SEED.value,
    _EVALUATOR_STEPS.value,
    _INCEPTION_WEIGHTS.value,
    _MATCHING_MODEL.value,
    prog=_PROG,
  )
  print(format_table(report))
  cli.report_json_line(report, _OUT.value, sort_keys=True)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(_PROG))
