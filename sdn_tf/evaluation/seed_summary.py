"""Several `sdn_tf.evaluate` reports (one per seed) as one table.

A number worth reporting is a mean and a spread over seeds, for every
attribute and every set of captions, not the best seed's flattering
subset. Reports are only averaged when they were judged alike: same data,
split, number of captions, samples per caption and evaluator network;
otherwise the file that differs is named.
"""

import json
import math
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

# (report section, what its captions are), in table order.
CAPTION_SETS = (
  ("template", "test captions, all"),
  ("template_seen", "seen (shape, colour) pairs"),
  ("template_held_out", "held-out (shape, colour) pairs"),
  ("paraphrase", "paraphrase captions"),
  ("captions_file", "--captions_file"),
)
ATTRIBUTES = ("shape", "colour", "size", "position", "background")
ALL_RIGHT = "all_named_right"

# What two reports must share to be averaged.
_MUST_MATCH = ("data_dir", "split", "num_images", "seeds", "evaluator")


def _judged_by(report: Dict, key: str):
  value = report.get(key)
  if key == "evaluator" and isinstance(value, dict):
    # The same network, whatever its training took on the day.
    value = {k: value.get(k) for k in ("settings", "test_accuracy")}
  return value


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
  """Mean and sample standard deviation (0 for one value)."""
  mean = sum(values) / len(values)
  if len(values) < 2:
    return mean, 0.0
  var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
  return mean, math.sqrt(var)


def load(paths: Sequence[str]) -> List[Dict]:
  """The reports at `paths`, checked to be comparable."""
  if not paths:
    raise UsageError("give one or more metrics.json files of sdn_tf.evaluate")
  reports = []
  for path in paths:
    try:
      report = json.loads(files.read_text(path))
    except OSError as e:
      raise UsageError(f"{path}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
      raise UsageError(f"{path}: not JSON ({e})") from None
    if not isinstance(report, dict) or not isinstance(
      report.get("template"), dict
    ):
      raise UsageError(
        f"{path}: not a report of sdn_tf.evaluate on attribute data "
        "(no 'template' section)"
      )
    reports.append(report)
  for path, report in zip(paths[1:], reports[1:]):
    for key in _MUST_MATCH:
      mine, first = _judged_by(report, key), _judged_by(reports[0], key)
      if mine != first:
        raise UsageError(
          f"{path}: judged with {key}={mine!r}, {paths[0]} with "
          f"{first!r}; only reports judged alike are averaged"
        )
  return reports


def _values(reports: Sequence[Dict], section: str, key: str) -> List[float]:
  values = []
  for report in reports:
    value = (report.get(section) or {}).get(key)
    if isinstance(value, (int, float)):
      values.append(float(value))
  return values


def summarize(reports: Sequence[Dict]) -> Dict:
  """{section: {attribute: {"mean", "std", "values"}}, "fid": ...,
  "num_reports", "trusted"}; fractions as in the reports (0..1).

  A section's captions name an attribute in some reports and not in
  others only when the reports differ; then its mean is over those that do.
  """
  summary = {
    "num_reports": len(reports),
    "trusted": all(r.get("trusted", False) for r in reports),
  }
  for section, _ in CAPTION_SETS:
    counts = _values(reports, section, "num_captions")
    if not counts or not any(counts):
      continue
    cells = {"num_captions": int(max(counts))}
    for key in ATTRIBUTES + (ALL_RIGHT,):
      values = _values(reports, section, key)
      if values:
        mean, std = mean_std(values)
        cells[key] = {"mean": mean, "std": std, "values": values}
    summary[section] = cells
  fids = [r["fid"] for r in reports if isinstance(r.get("fid"), (int, float))]
  if fids:
    mean, std = mean_std(fids)
    summary["fid"] = {"mean": mean, "std": std, "values": fids}
  return summary


def _cell(stats: Optional[Dict], scale: float, digits: int) -> str:
  if not stats:
    return "-"
  text = f"{stats['mean'] * scale:.{digits}f}"
  if len(stats["values"]) > 1:
    text += f" ± {stats['std'] * scale:.{digits}f}"
  return text


def table(summary: Dict) -> str:
  """A markdown table in %: one line per set of captions, mean ± std."""
  header = ["captions", "n"] + list(ATTRIBUTES) + ["every named attribute"]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for section, what in CAPTION_SETS:
    cells = summary.get(section)
    if not cells:
      continue
    row = [what, str(cells["num_captions"])]
    row += [_cell(cells.get(k), 100, 1) for k in ATTRIBUTES + (ALL_RIGHT,)]
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines)


def per_report_lines(summary: Dict, names: Sequence[str]) -> List[str]:
  """Each report's own every-named-attribute and FID, in `names` order."""
  lines = []
  for section in ("template", "template_held_out", "paraphrase"):
    stats = (summary.get(section) or {}).get(ALL_RIGHT)
    if stats and len(stats["values"]) == len(names):
      values = ", ".join(f"{v * 100:.1f}" for v in stats["values"])
      lines.append(f"{section} every named attribute right: {values}")
  fid = summary.get("fid")
  if fid:
    values = ", ".join(f"{v:.0f}" for v in fid["values"])
    lines.append(f"FID (evaluator features): {values}; {_cell(fid, 1, 0)}")
  return lines
