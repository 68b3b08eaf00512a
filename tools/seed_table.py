"""Mean ± spread over seeds of `sdn_tf.evaluate` reports, every attribute.

Usage, from the repository root:

  python tools/seed_table.py runs/s0/metrics_test.json runs/s1/metrics_test.json
      runs/s2/metrics_test.json [--out=summary.json]

Prints a markdown table (in %, mean ± sample standard deviation over the
reports: every attribute for all test captions, seen and held-out pairs,
paraphrases and a --captions_file), each report's own headline numbers,
and one JSON line. Refuses, naming the file, reports judged differently
(another split, data, number of captions or evaluator network).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from sdn_tf import cli  # pylint: disable=g-import-not-at-top
from sdn_tf.evaluation import seed_summary  # pylint: disable=g-import-not-at-top

_PROG = "seed_table.py"

_OUT = flags.DEFINE_string("out", "", "Also write the JSON summary here.")


def main(argv):
  paths = argv[1:]
  reports = cli.run_reporting_user_errors(seed_summary.load, paths, prog=_PROG)
  summary = seed_summary.summarize(reports)
  summary["reports"] = list(paths)
  if not summary["trusted"]:
    print("NOT TRUSTED: an evaluator network is under 0.98 on real images")
  print(seed_summary.table(summary))
  for line in seed_summary.per_report_lines(summary, paths):
    print(line)
  cli.report_json_line(summary, _OUT.value)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser(_PROG))
