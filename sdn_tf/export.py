"""Exports a trained generator: `python -m sdn_tf.export --workdir=DIR`.

Rebuilds the generator that `DIR/config.json` describes, restores it from
the latest checkpoint in `DIR/checkpoints/` (or from `--checkpoint`), and
writes it as a new SavedModel version under `DIR/export/` (see
`sdn_tf.serving.export_lib` for the signatures). Training exports at its end already;
this is for exporting an earlier checkpoint, or again after `export_lib.py`
changed, without training.

The prepared data dir named in config.json must still be there: the
tokenizer's vocabulary and the embedding size come from it. A relative
`data_dir` is resolved against the current directory, as it was in training.
"""

from typing import Optional

from absl import app
from absl import flags
from absl import logging

from sdn_tf import cli
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError


def find_checkpoint(workdir: str, checkpoint: Optional[str] = None) -> str:
  """The checkpoint prefix to restore: `checkpoint`, or the latest one.

  `checkpoint` may be a prefix (`.../ckpt-8`) or a directory of a
  CheckpointManager.

  Raises:
    FileNotFoundError: naming the flag, when there is no such checkpoint.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if checkpoint:
    if files.isdir(checkpoint):
      found = tf.train.latest_checkpoint(checkpoint)
      if not found:
        raise FileNotFoundError(f"--checkpoint: no checkpoint in {checkpoint}")
      return found
    if not tf.io.gfile.exists(checkpoint + ".index"):
      raise FileNotFoundError(
        f"--checkpoint: {checkpoint} is not a checkpoint (no "
        f"{checkpoint}.index)"
      )
    return checkpoint
  folder = workdir_lib.checkpoint_dir(workdir)
  found = workdir_lib.latest_checkpoint(workdir)
  if not found:
    raise FileNotFoundError(
      f"--workdir: no checkpoint in {folder}: has training saved one yet?"
    )
  return found


def check_checkpointable(checkpoint, weights) -> None:
  """Raises unless every one of `weights` is saved and restored by `checkpoint`.

  Keras 3 on TensorFlow makes layers and weights that a layer keeps in a
  list or dict dependencies of SavedModels only, not of tf.train.Checkpoint
  (keras/src/backend/tensorflow/layer.py, `_trackable_children`): such
  weights are neither saved nor restored, silently. Exporting from such a
  checkpoint would write freshly initialised weights.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  tracked = {id(t) for t in tf.train.TrackableView(checkpoint).descendants()}
  missing = [w.path for w in weights if id(w) not in tracked]
  if missing:
    raise RuntimeError(
      f"{len(missing)} of the generator's {len(weights)} weights are not "
      f"part of its tf.train.Checkpoint, so a checkpoint cannot restore "
      f"them (layers or weights kept only in a list or dict), e.g. "
      f"{', '.join(missing[:3])}"
    )


def export_from_workdir(workdir: str, checkpoint: Optional[str] = None) -> str:
  """Exports the generator of `workdir`'s checkpoint; returns the new path.

  Args:
    workdir: the work dir of a training run (holds config.json).
    checkpoint: a checkpoint prefix or directory; default: the latest one in
      `workdir/checkpoints`.

  Returns:
    The new version's directory, `workdir/export/<version>`.
  """
  if not workdir:
    raise UsageError("required", flag="workdir")
  config = workdir_lib.read_config(workdir)
  prefix = find_checkpoint(workdir, checkpoint)
  # Heavy imports after the checks, so that mistakes are reported fast.
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from sdn_tf.data import input_pipeline
  from sdn_tf.serving import export_lib
  from sdn_tf.training import builders

  # pylint: enable=g-import-not-at-top
  metadata = input_pipeline.read_metadata(config.data_dir)
  generator = builders.make_generator(
    config, config.data_dir, metadata.get("embedding_dim")
  )
  generator.build_for(1)
  # The training checkpoint also holds optimizers, the stage counter and the
  # point scales; only the generator is wanted here.
  restorer = tf.train.Checkpoint(generator=generator)
  check_checkpointable(restorer, generator.weights)
  status = restorer.restore(prefix)
  status.expect_partial()
  # Every generator variable must come from the checkpoint: a config.json
  # that does not match it would otherwise export random weights.
  status.assert_existing_objects_matched()
  logging.info("Restored the generator from %s", prefix)
  path = export_lib.export_generator(
    generator,
    config,
    config.data_dir,
    workdir_lib.export_dir(workdir),
    keep_exports=config.keep_exports,
  )
  logging.info("Exported the generator to %s", path)
  return path


_WORKDIR = flags.DEFINE_string(
  "workdir",
  None,
  "Work dir of a training run (config.json, "
  "checkpoints/); the SavedModel goes to <workdir>/export/<version>.",
)
_CHECKPOINT = flags.DEFINE_string(
  "checkpoint",
  None,
  "Checkpoint prefix (<workdir>/checkpoints/ckpt-N) or "
  "directory to export; default: the latest in <workdir>/checkpoints.",
)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  path = cli.run_reporting_user_errors(
    export_from_workdir, _WORKDIR.value, _CHECKPOINT.value
  )
  print(path)


if __name__ == "__main__":
  app.run(main)
