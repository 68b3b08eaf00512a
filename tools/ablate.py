"""Reproduces docs/RESULTS.md: SDN's ablations on the built-in shapes.

Usage, from the repository root:

  python tools/ablate.py [--rows=sdn,stage1_only,...] [--seeds=0,1,2]
      [--stage1_steps=800] [--stage2_steps=30] [--root=runs/ablate]

Each row (`sdn_tf/evaluation/ablation.py` lists them and says how compute
is kept equal) is `--config` plus the row's flags, trained once per seed in
<root>/<row>/seed<N> with `python -m sdn_tf.train`, then judged with
`python -m sdn_tf.evaluate` on `--split` into metrics_<split>.json. Seeds
go in the outer loop, so every row has its first seed before any has its
second. A run whose metrics_<split>.json exists is not run again, and one
that has its export is not trained again: rerun the same command to
resume, or the same command with --split=test to judge on the test split
the runs tuned on validation. Prints the table after each run and writes it
to <root>/results_<split>.md.

Long: each run is a main job's Stage I and II. A benchmark-like tool, not
a test: give it the machine.
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from sdn_tf.evaluation import ablation  # pylint: disable=g-import-not-at-top
from sdn_tf.utils import progress  # pylint: disable=g-import-not-at-top

_ROWS = flags.DEFINE_list(
  "rows", [r.name for r in ablation.ROWS], "Rows to run, in table order."
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds per row.")
_CONFIG = flags.DEFINE_string(
  "config", "configs/shapes.cfg", "The flagfile every row starts from."
)
_STAGE1_STEPS = flags.DEFINE_integer(
  "stage1_steps", 800, "Stage-I steps of every row.", lower_bound=1
)
_STAGE2_STEPS = flags.DEFINE_integer(
  "stage2_steps", 30, "Stage-II steps of every row.", lower_bound=0
)
_BATCH_SIZE = flags.DEFINE_integer(
  "batch_size", 16, "Images per step of every row.", lower_bound=1
)
_ROOT = flags.DEFINE_string("root", "runs/ablate", "Where the runs go.")
_DATA_DIR = flags.DEFINE_string(
  "data_dir", "data/shapes/records", "The records --config prepares."
)
_SPLIT = flags.DEFINE_enum(
  "split", "test", ["validation", "test"], "Split the rows are judged on."
)
_NUM_IMAGES = flags.DEFINE_integer(
  "num_images", 1600, "Captions evaluate draws per run.", lower_bound=1
)
_DRY_RUN = flags.DEFINE_bool(
  "dry_run", False, "Print the commands instead of running them."
)


def _teacher_file(maker_workdir: str, weights: str, seed: int) -> str:
  """Where the run in `maker_workdir` leaves the teacher it made."""
  # pylint: disable=g-import-not-at-top
  from sdn_tf.training import teacher_pretraining

  if weights == "random":
    return teacher_pretraining.random_teacher_path(maker_workdir, seed)
  return teacher_pretraining.cached_paths(maker_workdir)[0]


def _run(command, log_path: str) -> float:
  """Runs `command` with its output in `log_path`; its wall seconds."""
  start = time.time()
  with open(log_path, "w", encoding="utf-8") as log:
    code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
  if code:
    with open(log_path, encoding="utf-8", errors="replace") as log:
      tail = log.readlines()[-15:]
    sys.stderr.write("".join(tail))
    raise SystemExit(
      f"error: {' '.join(command[:3])} exited {code}; its log: {log_path}"
    )
  return time.time() - start


def _workdir(row, seed: int) -> str:
  return os.path.join(_ROOT.value, row.name, f"seed{seed}")


def _metrics_path(workdir: str) -> str:
  return os.path.join(workdir, f"metrics_{_SPLIT.value}.json")


def _trained(workdir: str) -> bool:
  """Whether the run in `workdir` has exported its generator (an export
  version appears only once complete: it is renamed into place)."""
  # pylint: disable=g-import-not-at-top
  from sdn_tf.training import workdir as workdir_lib

  return bool(workdir_lib.export_versions(workdir_lib.export_dir(workdir)))


def _results(rows, seeds):
  results = {}
  for row in rows:
    for seed in seeds:
      path = _metrics_path(_workdir(row, seed))
      if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
          metrics = json.load(f)
        log_path = os.path.join(os.path.dirname(path), "train.log")
        metrics["student_seconds"] = None  # a run trained elsewhere
        if os.path.exists(log_path):
          with open(log_path, encoding="utf-8", errors="replace") as f:
            metrics["student_seconds"] = ablation.student_seconds(f.read())
        results.setdefault(row.name, []).append(metrics)
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    rows = ablation.select(_ROWS.value)
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError as e:
    raise app.UsageError(f"--rows/--seeds: {e}") from e
  if not os.path.isfile(_CONFIG.value):
    raise app.UsageError(f"--config={_CONFIG.value}: no such file")
  budget = ablation.Budget(
    _STAGE1_STEPS.value, _STAGE2_STEPS.value, _BATCH_SIZE.value
  )
  # The first seed's run of the first row that uses a teacher makes it.
  makers = {}
  for row in rows:
    makers.setdefault(row.teacher, _workdir(row, seeds[0]))
  runs = [(seed, row) for seed in seeds for row in rows]
  # What each run still needs: judging, and training unless it has an
  # export; judged runs (metrics written) need nothing.
  to_judge = {
    (seed, row.name)
    for seed, row in runs
    if not os.path.exists(_metrics_path(_workdir(row, seed)))
  }
  to_train = {
    (seed, row.name)
    for seed, row in runs
    if (seed, row.name) in to_judge and not _trained(_workdir(row, seed))
  }
  started = time.time()
  train_times, judge_times = [], []
  for index, (seed, row) in enumerate(runs, 1):
    workdir = _workdir(row, seed)
    metrics_path = _metrics_path(workdir)
    if (seed, row.name) not in to_judge:
      continue
    trained = (seed, row.name) not in to_train
    maker = makers[row.teacher]
    teacher_file = None
    if workdir != maker:
      teacher_file = _teacher_file(maker, row.teacher[0], seeds[0])
    train = [
      sys.executable,
      "-m",
      "sdn_tf.train",
      f"--flagfile={_CONFIG.value}",
      f"--workdir={workdir}",
      *ablation.train_flags(row, seed, budget, teacher_file),
    ]
    evaluate = [
      sys.executable,
      "-m",
      "sdn_tf.evaluate",
      f"--model_dir={os.path.join(workdir, 'export')}",
      f"--data_dir={_DATA_DIR.value}",
      f"--split={_SPLIT.value}",
      f"--num_images={_NUM_IMAGES.value}",
      f"--seeds={row.eval_seeds}",
      f"--out={metrics_path}",
    ]
    if _DRY_RUN.value:
      if not trained:
        print(" ".join(train))
      print(" ".join(evaluate))
      continue
    left = ablation.remaining_seconds(
      train_times, judge_times, len(to_train), len(to_judge)
    )
    eta = (
      f", about {progress.format_duration(left)} left"
      if left is not None
      else ""
    )
    print(
      f"[{index}/{len(runs)}] {row.name} seed {seed}"
      f"{' (trained: judging only)' if trained else ''}{eta}",
      flush=True,
    )
    os.makedirs(workdir, exist_ok=True)
    if teacher_file and not trained:
      if not os.path.isfile(teacher_file):
        raise SystemExit(f"error: {teacher_file} (made by {maker}) is missing")
      # The text encoder aligned with that teacher: its cache records the
      # teacher by content, so a copy is reused, never a stale one.
      text_encoder = os.path.join(maker, "text_encoder")
      if os.path.isdir(text_encoder):
        shutil.copytree(
          text_encoder,
          os.path.join(workdir, "text_encoder"),
          dirs_exist_ok=True,
        )
    run_start = time.time()
    train_seconds = 0.0
    if not trained:
      train_seconds = _run(train, os.path.join(workdir, "train.log"))
      train_times.append(train_seconds)
      to_train.discard((seed, row.name))
    judge_times.append(
      _run(evaluate, os.path.join(workdir, f"evaluate_{_SPLIT.value}.log"))
    )
    to_judge.discard((seed, row.name))
    with open(metrics_path, encoding="utf-8") as f:
      metrics = json.load(f)
    if not trained:
      metrics["train_seconds"] = round(train_seconds, 1)
    metrics["train_flags"] = train[3:]
    with open(metrics_path, "w", encoding="utf-8") as f:
      json.dump(metrics, f, indent=1)
    training = (
      f" (training {progress.format_duration(train_seconds)})"
      if not trained
      else ""
    )
    print(
      f"  done in {progress.format_duration(time.time() - run_start)}"
      f"{training}; {progress.format_duration(time.time() - started)} so far",
      flush=True,
    )
  text = ablation.table(rows, _results(rows, seeds))
  if not _DRY_RUN.value:
    results_path = os.path.join(_ROOT.value, f"results_{_SPLIT.value}.md")
    with open(results_path, "w") as f:
      f.write(text + "\n")
  print(text)


if __name__ == "__main__":
  app.run(main)
