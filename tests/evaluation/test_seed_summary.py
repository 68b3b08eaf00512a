"""Seeds' evaluate reports as one table, and tools/seed_table.py."""

import json
import math

import pytest

from sdn_tf.evaluation import seed_summary
from sdn_tf.utils.errors import UsageError
from tests import tool_runner

_EVALUATOR = {
  "settings": {"steps": 1500, "seed": 0},
  "test_accuracy": {"shape": 0.996, "colour": 0.993},
  "train_seconds": 685.4,
}


def _section(value, num_captions=100, **overrides):
  cells = {a: value for a in seed_summary.ATTRIBUTES}
  cells["all_named_right"] = value
  cells["num_captions"] = num_captions
  cells.update(overrides)
  return cells


def _report(value, fid=500.0, **overrides):
  report = {
    "data_dir": "data/shapes/records",
    "split": "test",
    "num_images": 100,
    "seeds": 1,
    "evaluator": dict(_EVALUATOR),
    "trusted": True,
    "fid": fid,
    "template": _section(value),
    "template_seen": _section(value, 80),
    # No held-out caption names a background in this report.
    "template_held_out": _section(value, 20, background=None),
    "paraphrase": _section(value / 2),
  }
  report.update(overrides)
  return report


def _write(tmp_path, reports):
  paths = []
  for i, report in enumerate(reports):
    path = tmp_path / f"metrics_seed{i}.json"
    path.write_text(json.dumps(report))
    paths.append(str(path))
  return paths


def test_mean_and_sample_std():
  assert seed_summary.mean_std([0.5]) == (0.5, 0.0)
  mean, std = seed_summary.mean_std([0.8, 0.9, 1.0])
  assert mean == pytest.approx(0.9)
  assert std == pytest.approx(0.1)  # n - 1 in the denominator


def test_every_attribute_of_every_caption_set_is_averaged(tmp_path):
  paths = _write(tmp_path, [_report(0.8, 400), _report(1.0, 600)])
  summary = seed_summary.summarize(seed_summary.load(paths))
  assert summary["num_reports"] == 2 and summary["trusted"]
  for attribute in seed_summary.ATTRIBUTES + ("all_named_right",):
    cell = summary["template"][attribute]
    assert cell["values"] == [0.8, 1.0]
    assert cell["mean"] == pytest.approx(0.9)
    assert cell["std"] == pytest.approx(math.sqrt(0.02))
  assert summary["paraphrase"]["shape"]["mean"] == pytest.approx(0.45)
  assert "background" not in summary["template_held_out"]
  # No report has a captions file: no line for it.
  assert "captions_file" not in summary
  assert summary["fid"]["mean"] == pytest.approx(500.0)

  table = seed_summary.table(summary).splitlines()
  assert len(table) == 2 + 4
  assert table[2].startswith("| test captions, all | 100 | 90.0 ± 14.1 |")
  held_out = table[4].split(" | ")
  assert held_out[0] == "| held-out (shape, colour) pairs"
  assert held_out[6] == "-"  # background: named by none of its captions
  lines = seed_summary.per_report_lines(summary, paths)
  assert "template every named attribute right: 80.0, 100.0" in lines
  assert "FID (evaluator features): 400, 600; 500 ± 141" in lines


def test_one_report_has_no_spread(tmp_path):
  summary = seed_summary.summarize(
    seed_summary.load(_write(tmp_path, [_report(0.75)]))
  )
  assert "| 75.0 |" in seed_summary.table(summary)
  assert "±" not in seed_summary.table(summary)


def test_an_untrusted_report_makes_the_summary_untrusted(tmp_path):
  paths = _write(tmp_path, [_report(0.8), _report(0.9, trusted=False)])
  assert not seed_summary.summarize(seed_summary.load(paths))["trusted"]


def test_the_evaluators_training_time_does_not_matter(tmp_path):
  retrained = dict(_EVALUATOR, train_seconds=100.0)
  paths = _write(tmp_path, [_report(0.8), _report(0.9, evaluator=retrained)])
  assert len(seed_summary.load(paths)) == 2


@pytest.mark.parametrize(
  "key, value",
  [
    ("split", "validation"),
    ("num_images", 1600),
    ("data_dir", "elsewhere/records"),
    ("evaluator", dict(_EVALUATOR, settings={"steps": 10, "seed": 0})),
  ],
)
def test_reports_judged_differently_are_refused(tmp_path, key, value):
  paths = _write(tmp_path, [_report(0.8), _report(0.9, **{key: value})])
  with pytest.raises(
    UsageError, match=f"metrics_seed1.json: judged with {key}="
  ):
    seed_summary.load(paths)


def test_unusable_files_are_named(tmp_path):
  with pytest.raises(UsageError, match="give one or more"):
    seed_summary.load([])
  missing = str(tmp_path / "nope.json")
  with pytest.raises(UsageError, match="nope.json: No such file"):
    seed_summary.load([missing])
  broken = tmp_path / "broken.json"
  broken.write_bytes(b'{"template": ')
  with pytest.raises(UsageError, match="broken.json: not JSON"):
    seed_summary.load([str(broken)])
  binary = tmp_path / "binary.json"
  binary.write_bytes(b"\xff\xfe\x00")
  with pytest.raises(UsageError, match="binary.json: not JSON"):
    seed_summary.load([str(binary)])
  natural = tmp_path / "cub.json"
  natural.write_text(json.dumps({"fid": 30.0, "inception_score": 4.0}))
  with pytest.raises(UsageError, match="cub.json: not a report"):
    seed_summary.load([str(natural)])


def test_tool_prints_the_table_and_writes_the_summary(tmp_path):
  paths = _write(tmp_path, [_report(0.8), _report(0.9), _report(1.0)])
  out = tmp_path / "summary.json"
  result = tool_runner.run_tool(
    "seed_table.py", *paths, f"--out={out}", timeout=120
  )
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert lines[0].startswith("| captions | n | shape |")
  assert "| test captions, all | 100 | 90.0 ± 10.0 |" in result.stdout
  assert "NOT TRUSTED" not in result.stdout
  printed = json.loads(lines[-1])
  assert json.loads(out.read_text()) == printed
  assert printed["reports"] == paths
  assert printed["template"]["colour"]["values"] == [0.8, 0.9, 1.0]


def test_tool_names_the_bad_file_in_one_line(tmp_path):
  good = _write(tmp_path, [_report(0.8)])[0]
  result = tool_runner.run_tool(
    "seed_table.py", good, str(tmp_path / "missing.json"), timeout=120
  )
  assert result.returncode == 2
  assert "missing.json" in result.stderr
  assert "Traceback" not in result.stderr
  result = tool_runner.run_tool("seed_table.py", timeout=120)
  assert result.returncode == 2
  assert "give one or more" in result.stderr
