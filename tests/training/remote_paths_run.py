"""Trains, resumes and exports with every path on TensorFlow's in-memory
`ram://` file system, in one process (ram:// lives in its memory), and
prints one JSON line of what it found there for the test to check.

Usage: python tests/training/remote_paths_run.py <flags for sdn_tf.train>
"""

import dataclasses
import json
import sys

from absl import flags
from absl import logging
import tensorflow as tf

from sdn_tf import cli
from sdn_tf.training import loop
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import files

ROOT = "ram://sdn"
WORKDIR = ROOT + "/work"


def main(argv):
  flags.FLAGS(
    argv
    + [
      f"--raw_data_dir={ROOT}/raw",
      f"--data_dir={ROOT}/records",
    ]
  )
  logging.set_verbosity(logging.INFO)
  config = cli.config_from_flags()
  # The first run stops short of exporting, as a preempted run would.
  first_export = loop.train_and_export(
    dataclasses.replace(config, export=False), WORKDIR
  )
  first_step = int(workdir_lib.latest_checkpoint(WORKDIR).rsplit("-", 1)[1])
  # A rerun with two more Stage-II steps must resume, not start over.
  longer = dataclasses.replace(config, stage2_steps=config.stage2_steps + 2)
  second_export = loop.train_and_export(longer, WORKDIR)
  second_step = int(workdir_lib.latest_checkpoint(WORKDIR).rsplit("-", 1)[1])

  exported = tf.saved_model.load(second_export)
  image = exported.signatures["serving_default"](
    text=tf.constant(["a small red square on a white background"])
  )["image"].numpy()
  events = [
    event
    for name in files.listdir(workdir_lib.summary_dir(WORKDIR))
    for event in tf.data.TFRecordDataset(
      files.join(workdir_lib.summary_dir(WORKDIR), name)
    )
  ]
  print(
    "RESULT "
    + json.dumps(
      {
        "exports": [first_export, second_export],
        "versions": workdir_lib.export_versions(
          workdir_lib.export_dir(WORKDIR), complete_only=True
        ),
        "steps": [first_step, second_step],
        "records": files.listdir(ROOT + "/records"),
        "workdir": files.listdir(WORKDIR),
        "num_events": len(events),
        "image_shape": list(image.shape),
        "image_dtype": image.dtype.name,
      }
    ),
    flush=True,
  )


if __name__ == "__main__":
  cli.define_config_flags()
  main(sys.argv)
