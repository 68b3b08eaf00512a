"""The ablations of docs/RESULTS.md: which rows, how each is run, the table.

Each row is the main job's flagfile plus the flags that take one part of
SDN away or swap it; `tools/ablate.py` trains and judges every (row, seed)
and this module turns their `metrics.json` files into one table.

Equal compute: every row trains on batches of the same number of images
for the same number of steps, except that Stage I only gets the images
Stage II would have used (a Stage-II step costs about two Stage-I steps:
the teacher runs forward and backward on the drawn image besides the
real one), and K = 4 reads a quarter of the captions per step, each drawn
4 times.

Teachers are pretrained once (by the first seed's run of the first row
that uses one) and shared by every row and seed that distils from it. The
text encoder aligned with a teacher is copied along, but its cache records
the seed, so it is reused by that seed's rows and aligned again for every
other seed: rows differ only by their own flags, seeds by the text
encoder's and the student's initialisation and batches.
"""

import dataclasses
import datetime
import re
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from sdn_tf.evaluation import seed_summary

# Stage-II steps cost about this many Stage-I steps (see the module doc).
STAGE2_STEP_COST = 2
NOISE_DIM = 32


@dataclasses.dataclass(frozen=True)
class Row:
  name: str
  what: str
  flags: Tuple[str, ...] = ()
  # Which pretrained teacher it distils from: (--teacher_weights, pooling);
  # by default the main job's (configs/shapes.cfg).
  teacher: Tuple[str, str] = ("pretrain", "max")
  stage1_only: bool = False
  # Captions per step are divided by this (K = 4 draws each caption 4x).
  captions_per_image: int = 1
  eval_seeds: int = 1


ROWS = (
  Row("sdn", "Stage I + Stage II (the main job's recipe)"),
  Row("stage1_only", "Stage I only", stage1_only=True),
  Row(
    "pixel_only",
    "pixel regression only (no teacher level but the image)",
    ("--stage1_points=input", "--stage2_points=input"),
  ),
  Row(
    "random_teacher",
    "random (untrained) teacher",
    ("--teacher_weights=random",),
    teacher=("random", "max"),
  ),
  # The reference's pooling, the main job's until session 18: its student
  # learnt the shapes more slowly (docs/RESULTS.md).
  Row(
    "avg_pooling",
    "teacher with average pooling (the reference's; pretrained with it)",
    ("--teacher_pooling=avg",),
    teacher=("pretrain", "avg"),
  ),
  # Issue 10's check that bfloat16 costs no quality: the student trained in
  # float32 from the same teacher and text encoder. (Where --precision=auto
  # picks float32 anyway, this row equals "sdn".)
  Row(
    "float32",
    "student trained in float32 (the main job: bfloat16 where fast)",
    ("--precision=float32",),
  ),
  # The caption reader the main job used before the bag of words: what
  # reading word order costs on captions that never need it.
  Row(
    "cnn_rnn_reader",
    "captions read by convs and a BiGRU (char-CNN-RNN) instead of a bag "
    "of words",
    ("--text_architecture=cnn_rnn",),
  ),
  Row(
    "noise_k1",
    f"noise z ({NOISE_DIM}), K = 1",
    (f"--noise_dim={NOISE_DIM}", "--num_diverse_samples=1"),
    eval_seeds=4,
  ),
  Row(
    "noise_k4",
    f"noise z ({NOISE_DIM}), K = 4 diverse samples (min over K)",
    (f"--noise_dim={NOISE_DIM}", "--num_diverse_samples=4"),
    captions_per_image=4,
    eval_seeds=4,
  ),
)
ROWS_BY_NAME = {row.name: row for row in ROWS}


def select(names: Sequence[str]) -> List[Row]:
  unknown = [n for n in names if n not in ROWS_BY_NAME]
  if unknown:
    raise ValueError(
      f"unknown rows {', '.join(unknown)}; known: {', '.join(ROWS_BY_NAME)}"
    )
  return [ROWS_BY_NAME[n] for n in names]


@dataclasses.dataclass(frozen=True)
class Budget:
  stage1_steps: int
  stage2_steps: int
  batch_size: int


def train_flags(
  row: Row, seed: int, budget: Budget, teacher_file: Optional[str]
) -> List[str]:
  """The row's flags after the main job's flagfile.

  `teacher_file` is the shared teacher's weights (None: this run is the
  one that makes it, with --teacher_weights=pretrain or random).
  """
  stage1, stage2 = budget.stage1_steps, budget.stage2_steps
  if row.stage1_only:
    stage1, stage2 = stage1 + STAGE2_STEP_COST * stage2, 0
  if budget.batch_size % row.captions_per_image:
    raise ValueError(
      f"--batch_size={budget.batch_size} is not a multiple of the "
      f"{row.captions_per_image} images row {row.name} draws per caption"
    )
  flags = [
    f"--seed={seed}",
    f"--stage1_steps={stage1}",
    f"--stage2_steps={stage2}",
    # --stage2_steps=0 alone means "use --stage2_epochs".
    *(["--stage2_epochs=0"] if not stage2 else []),
    f"--batch_size={budget.batch_size // row.captions_per_image}",
    *row.flags,
  ]
  if teacher_file:
    flags.append(f"--teacher_weights={teacher_file}")
  return flags


# absl's log line prefix: I1205 16:03:46.810551 <thread> <file>:<line>]
_LOG_TIME = re.compile(r"^[IWEF]\d{4} (\d\d:\d\d:\d\d\.\d+) ")
_STUDENT_START = "Stage 1: step 0 of"
_STUDENT_END = "Exported the generator"


def student_seconds(train_log: str) -> Optional[float]:
  """Seconds from Stage I's first step to the export, read from a train
  log: the row's own training, without the data preparation and the
  pretraining that only the run that makes a teacher pays for."""
  start = end = None
  for line in train_log.splitlines():
    match = _LOG_TIME.match(line)
    if not match:
      continue
    if start is None and _STUDENT_START in line:
      start = match.group(1)
    elif _STUDENT_END in line:
      end = match.group(1)
  if start is None or end is None:
    return None
  seconds = (
    datetime.datetime.strptime(end, "%H:%M:%S.%f")
    - datetime.datetime.strptime(start, "%H:%M:%S.%f")
  ).total_seconds()
  return seconds % 86400  # across midnight


def remaining_seconds(
  train_seconds: Sequence[float],
  judge_seconds: Sequence[float],
  trainings_left: int,
  judgings_left: int,
) -> Optional[float]:
  """Time left, from the mean training and judging time so far, each
  counted only for the runs that still need it (a trained run is only
  judged); None until each needed kind was seen once."""
  total = 0.0
  for seconds, left in (
    (train_seconds, trainings_left),
    (judge_seconds, judgings_left),
  ):
    if left:
      if not seconds:
        return None
      total += sum(seconds) / len(seconds) * left
  return total


# (column header, metrics.json section, key, scale)
COLUMNS = (
  ("shape", "template", "shape", 100),
  ("colour", "template", "colour", 100),
  ("size", "template", "size", 100),
  ("position", "template", "position", 100),
  ("background", "template", "background", 100),
  ("all right", "template", "all_named_right", 100),
  ("held-out shape", "template_held_out", "shape", 100),
  ("held-out colour", "template_held_out", "colour", 100),
  ("held-out all right", "template_held_out", "all_named_right", 100),
  ("paraphrase all right", "paraphrase", "all_named_right", 100),
  ("FID", "fid", None, 1),
  ("diversity", "diversity", None, 1),
  ("training min", "student_seconds", None, 1 / 60),
)


def _value(metrics: Dict, section: str, key: Optional[str]) -> Optional[float]:
  value = metrics.get(section)
  if key is not None:
    value = value.get(key) if isinstance(value, dict) else None
  if isinstance(value, dict):  # {"mean": ..., "std": ...} metrics
    value = value.get("mean")
  return value if isinstance(value, (int, float)) else None


def table(rows: Sequence[Row], results: Dict[str, List[Dict]]) -> str:
  """A markdown table: per row, each column's mean ± std over its seeds.

  `results[row.name]` is the list of that row's finished runs' metrics
  (evaluate's report with "student_seconds" added); rows without runs
  show a dash in every column.
  """
  header = ["row", "seeds"] + [c[0] for c in COLUMNS]
  lines = [
    "| " + " | ".join(header) + " |",
    "|" + "---|" * len(header),
  ]
  for row in rows:
    runs = results.get(row.name, [])
    cells = [row.what, str(len(runs))]
    for _, section, key, scale in COLUMNS:
      values = [_value(m, section, key) for m in runs]
      values = [v * scale for v in values if v is not None]
      if not values:
        cells.append("-")
        continue
      mean, std = seed_summary.mean_std(values)
      digits = 0 if section == "fid" else 1
      cells.append(
        f"{mean:.{digits}f}"
        + (f" ± {std:.{digits}f}" if len(values) > 1 else "")
      )
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)
