"""The ablation rows, their equal-compute flags, the table and tools/ablate.py."""

import os

import pytest

from sdn_tf.evaluation import ablation
from tests import tool_runner

BUDGET = ablation.Budget(stage1_steps=300, stage2_steps=30, batch_size=16)


def _flag(flags, name):
  """The value absl would take: the last occurrence wins."""
  values = [f.split("=", 1)[1] for f in flags if f.startswith(f"--{name}=")]
  return values[-1] if values else None


def test_every_row_trains_the_same_images():
  for row in ablation.ROWS:
    flags = ablation.train_flags(row, 0, BUDGET, None)
    stage1, stage2 = (
      int(_flag(flags, "stage1_steps")),
      int(_flag(flags, "stage2_steps")),
    )
    images_per_step = int(_flag(flags, "batch_size")) * row.captions_per_image
    assert images_per_step == 16, row.name
    # A Stage-II step counts as STAGE2_STEP_COST Stage-I steps.
    assert stage1 + ablation.STAGE2_STEP_COST * stage2 == 360, row.name
  stage1_only = ablation.train_flags(
    ablation.ROWS_BY_NAME["stage1_only"], 0, BUDGET, None
  )
  # No Stage II at all: 0 steps alone would mean --stage2_epochs' steps.
  assert _flag(stage1_only, "stage2_steps") == "0"
  assert _flag(stage1_only, "stage2_epochs") == "0"
  sdn = ablation.train_flags(ablation.ROWS_BY_NAME["sdn"], 0, BUDGET, None)
  assert _flag(sdn, "stage2_epochs") is None


def test_rows_change_what_they_name():
  k4 = ablation.train_flags(ablation.ROWS_BY_NAME["noise_k4"], 2, BUDGET, None)
  assert _flag(k4, "num_diverse_samples") == "4"
  assert _flag(k4, "batch_size") == "4"
  assert _flag(k4, "seed") == "2"
  pixel = ablation.train_flags(
    ablation.ROWS_BY_NAME["pixel_only"], 0, BUDGET, None
  )
  assert (
    _flag(pixel, "stage1_points") == _flag(pixel, "stage2_points") == "input"
  )
  sdn = ablation.train_flags(ablation.ROWS_BY_NAME["sdn"], 0, BUDGET, None)
  assert _flag(sdn, "teacher_weights") is None  # the config's pretrain
  assert _flag(sdn, "precision") is None  # the config's auto
  float32 = ablation.train_flags(
    ablation.ROWS_BY_NAME["float32"], 0, BUDGET, None
  )
  assert _flag(float32, "precision") == "float32"
  assert ablation.ROWS_BY_NAME["float32"].teacher == ("pretrain", "max")
  reader = ablation.train_flags(
    ablation.ROWS_BY_NAME["cnn_rnn_reader"], 0, BUDGET, None
  )
  assert _flag(reader, "text_architecture") == "cnn_rnn"
  assert _flag(sdn, "text_architecture") is None  # the config's bag_of_words


def _main_job_flag(name):
  """A flag's value in configs/shapes.cfg (set there, not by an include)."""
  path = os.path.join(tool_runner.REPO_ROOT, "configs", "shapes.cfg")
  with open(path, encoding="utf-8") as f:
    values = [
      line.strip().split("=", 1)[1]
      for line in f
      if line.startswith(f"--{name}=")
    ]
  assert len(values) == 1, name
  return values[0]


def test_rows_default_to_the_main_jobs_teacher_and_budget(tmp_path):
  pooling = _main_job_flag("teacher_pooling")
  weights = _main_job_flag("teacher_weights")
  assert ablation.ROWS_BY_NAME["sdn"].teacher == (weights, pooling)
  result = _ablate("--dry_run", "--rows=sdn", "--seeds=0", f"--root={tmp_path}")
  assert result.returncode == 0, result.stderr
  (train,) = [
    line.split() for line in result.stdout.splitlines() if "--workdir=" in line
  ]
  assert _flag(train, "stage1_steps") == _main_job_flag("stage1_steps")


def test_a_shared_teacher_file_overrides_the_rows_teacher_flag():
  row = ablation.ROWS_BY_NAME["random_teacher"]
  flags = ablation.train_flags(
    row, 1, BUDGET, "runs/x/teacher/random.weights.h5"
  )
  assert _flag(flags, "teacher_weights") == "runs/x/teacher/random.weights.h5"


def test_a_batch_k_does_not_divide_is_refused():
  with pytest.raises(ValueError, match="batch_size=6"):
    ablation.train_flags(
      ablation.ROWS_BY_NAME["noise_k4"], 0, ablation.Budget(10, 0, 6), None
    )


def test_unknown_rows_are_named():
  with pytest.raises(ValueError, match="unknown rows nope"):
    ablation.select(["sdn", "nope"])


def test_student_seconds_spans_stage1_to_the_export():
  log = "\n".join(
    [
      "I1205 23:59:00.000000 1 preparation.py:1] Prepared data",
      "I1205 23:59:50.500000 1 loop.py:207] Stage 1: step 0 of 300",
      "I1206 00:00:10.000000 1 loop.py:207] Stage 1: step 0 of 300",
      "I1206 00:01:00.500000 1 loop.py:559] Exported the generator to x",
    ]
  )
  assert ablation.student_seconds(log) == pytest.approx(70.0)
  assert ablation.student_seconds("no log lines\n") is None


def test_time_left_counts_training_only_for_runs_not_trained():
  # Two runs trained (100 s, 140 s), three judged (10 s each).
  trained, judged = [100.0, 140.0], [10.0, 10.0, 10.0]
  assert ablation.remaining_seconds(trained, judged, 2, 3) == 2 * 120 + 3 * 10
  # Runs left that are trained already cost only their judging.
  assert ablation.remaining_seconds(trained, judged, 0, 2) == 20
  assert ablation.remaining_seconds([], judged, 0, 1) == 10
  # Unknown until a run of each needed kind finished.
  assert ablation.remaining_seconds([], judged, 1, 1) is None
  assert ablation.remaining_seconds([], [], 0, 0) == 0


def test_table_gives_mean_and_spread_per_column():
  runs = [
    {
      "template": {"shape": 0.8, "all_named_right": 0.5},
      "fid": 100.0,
      "student_seconds": 600,
    },
    {
      "template": {"shape": 0.9, "all_named_right": 0.7},
      "fid": 120.0,
      "student_seconds": 660,
    },
  ]
  rows = [ablation.ROWS_BY_NAME["sdn"], ablation.ROWS_BY_NAME["pixel_only"]]
  text = ablation.table(rows, {"sdn": runs})
  lines = text.splitlines()
  header = [c.strip() for c in lines[0].strip("|").split("|")]
  sdn = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|"))))
  assert sdn["seeds"] == "2"
  assert sdn["shape"] == "85.0 ± 7.1"  # sample standard deviation
  assert sdn["all right"] == "60.0 ± 14.1"
  assert sdn["FID"] == "110 ± 14"
  assert sdn["training min"] == "10.5 ± 0.7"
  assert sdn["colour"] == "-"  # missing from these reports
  pixel = [c.strip() for c in lines[3].strip("|").split("|")]
  assert pixel[1] == "0" and set(pixel[2:]) == {"-"}


def _ablate(*args):
  return tool_runner.run_tool("ablate.py", *args)


def test_dry_run_shares_each_teacher_from_the_run_that_makes_it(tmp_path):
  root = str(tmp_path / "ablate")
  result = _ablate(
    "--dry_run",
    "--rows=sdn,random_teacher,avg_pooling",
    "--seeds=3,4",
    "--stage1_steps=10",
    "--stage2_steps=2",
    f"--root={root}",
  )
  assert result.returncode == 0, result.stderr
  trains = [
    line.split() for line in result.stdout.splitlines() if "--workdir=" in line
  ]
  assert len(trains) == 6
  by_run = {(_flag(t, "workdir"), _flag(t, "seed")): t for t in trains}
  sdn3 = by_run[(f"{root}/sdn/seed3", "3")]
  assert _flag(sdn3, "teacher_weights") is None  # makes the teacher
  sdn4 = by_run[(f"{root}/sdn/seed4", "4")]
  assert _flag(sdn4, "teacher_weights") == (
    f"{root}/sdn/seed3/teacher/vgg19_pretrained.weights.h5"
  )
  random4 = by_run[(f"{root}/random_teacher/seed4", "4")]
  assert _flag(random4, "teacher_weights") == (
    f"{root}/random_teacher/seed3/teacher/vgg19_random_seed3.weights.h5"
  )
  avg3 = by_run[(f"{root}/avg_pooling/seed3", "3")]
  assert _flag(avg3, "teacher_weights") is None  # its own, average-pooled
  assert _flag(avg3, "teacher_pooling") == "avg"
  evaluates = [
    line for line in result.stdout.splitlines() if "--model_dir=" in line
  ]
  assert len(evaluates) == 6 and all("--split=test" in e for e in evaluates)


def test_a_trained_run_is_only_judged_and_a_judged_one_skipped(tmp_path):
  root = tmp_path / "ablate"
  (root / "sdn" / "seed0" / "export" / "1").mkdir(parents=True)
  (root / "sdn" / "seed1" / "export" / "1").mkdir(parents=True)
  (root / "sdn" / "seed1" / "metrics_test.json").write_text("{}")
  result = _ablate(
    "--dry_run",
    "--rows=sdn",
    "--seeds=0,1,2",
    "--split=test",
    f"--root={root}",
  )
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  trains = [line for line in lines if "--workdir=" in line]
  evaluates = [line for line in lines if "--model_dir=" in line]
  # Seed 0 is trained: judged only. Seed 1 is judged on test: skipped.
  assert [_flag(t.split(), "workdir") for t in trains] == [f"{root}/sdn/seed2"]
  assert [_flag(e.split(), "out") for e in evaluates] == [
    f"{root}/sdn/seed0/metrics_test.json",
    f"{root}/sdn/seed2/metrics_test.json",
  ]


def test_bad_rows_flag_is_a_usage_error(tmp_path):
  result = _ablate("--dry_run", "--rows=sdn,bogus", f"--root={tmp_path}")
  assert result.returncode != 0
  assert "--rows/--seeds: unknown rows bogus" in result.stderr
  assert "Traceback" not in result.stderr
