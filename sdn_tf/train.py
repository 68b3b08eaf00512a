"""Trains SDN: `python -m sdn_tf.train --flagfile=configs/shapes.cfg`.

Generates/prepares the data when missing, pretrains the teacher if asked,
runs Stage I and Stage II, and exports a SavedModel to
`<workdir>/export/<version>/`. Rerunning the same command resumes.
"""

from absl import app
from absl import flags

from sdn_tf import cli

cli.define_config_flags()
_WORKDIR = flags.DEFINE_string(
  "workdir", "runs/shapes", "Checkpoints, TensorBoard logs and exports."
)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = cli.run_reporting_user_errors(cli.config_from_flags)
  # Imported here so that `--help` and flag errors come back fast.
  from sdn_tf.training import loop  # pylint: disable=g-import-not-at-top

  cli.run_reporting_user_errors(loop.train_and_export, config, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
