"""Trains SDN: `python -m sdn_tf.train --flagfile=configs/shapes.cfg`.

Generates/prepares the data when missing, pretrains the teacher if asked,
runs Stage I and Stage II, and exports a SavedModel to
`<workdir>/export/<version>/`. Rerunning the same command resumes; SIGTERM
or SIGINT during Stage I or II saves a checkpoint and exits 0.
"""

import sys

from absl import app
from absl import flags
from absl import logging

from sdn_tf import cli

# Training diverged (a non-finite step under --on_non_finite=stop).
EXIT_DIVERGED = 3

cli.define_config_flags()
_WORKDIR = flags.DEFINE_string(
  "workdir", "runs/shapes", "Checkpoints, TensorBoard logs and exports."
)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = cli.run_reporting_user_errors(cli.config_from_flags)
  # Imported here so that `--help` and flag errors come back fast.
  # pylint: disable=g-import-not-at-top
  from sdn_tf.training import finite_guard
  from sdn_tf.training import loop
  from sdn_tf.training import run_control

  # pylint: enable=g-import-not-at-top
  try:
    cli.run_reporting_user_errors(loop.train_and_export, config, _WORKDIR.value)
  except run_control.Stopped as e:
    logging.warning("Training %s", e)
  except finite_guard.NonFiniteError as e:
    logging.error("Training stopped: %s", e)
    logging.flush()
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(EXIT_DIVERGED)


if __name__ == "__main__":
  app.run(main)
