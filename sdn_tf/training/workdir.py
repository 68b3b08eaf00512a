"""The work dir of a training run: what lives where, in one place.

    <workdir>/
      config.json        the resolved Config of the run (chief only)
      teacher/           the pretrained teacher's weights and report (cache)
      text_encoder/      the aligned text encoder's weights and report (cache)
      checkpoints/       tf.train.CheckpointManager's checkpoints
      train/             TensorBoard event files
      export/<version>/  SavedModels, TF Serving's layout

Every module that reads or writes one of these asks this one.
"""

import dataclasses
import json
import os
from typing import Optional

from sdn_tf.config import Config
from sdn_tf.config import ConfigError

CONFIG_FILE = "config.json"
TEACHER_DIR = "teacher"
TEXT_ENCODER_DIR = "text_encoder"
CHECKPOINT_DIR = "checkpoints"
SUMMARY_DIR = "train"
EXPORT_DIR = "export"


def config_path(workdir: str) -> str:
  return os.path.join(workdir, CONFIG_FILE)


def teacher_dir(workdir: str) -> str:
  return os.path.join(workdir, TEACHER_DIR)


def text_encoder_dir(workdir: str) -> str:
  return os.path.join(workdir, TEXT_ENCODER_DIR)


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(workdir, CHECKPOINT_DIR)


def summary_dir(workdir: str) -> str:
  return os.path.join(workdir, SUMMARY_DIR)


def export_dir(workdir: str) -> str:
  return os.path.join(workdir, EXPORT_DIR)


def write_config(workdir: str, config: Config) -> None:
  with open(config_path(workdir), "w") as f:
    f.write(config.to_json())


def read_config(workdir: str) -> Config:
  """The Config a training run wrote to `workdir/config.json`.

  Raises:
    FileNotFoundError: there is no config.json.
    ConfigError: it names an option this version does not know, or a bad
      value.
  """
  path = config_path(workdir)
  if not os.path.isfile(path):
    raise FileNotFoundError(
      f"--workdir: no {CONFIG_FILE} in {workdir}: is it the work dir of a "
      f"training run?"
    )
  with open(path) as f:
    values = json.load(f)
  # Dropping an unknown option silently could rebuild another generator.
  unknown = sorted(set(values) - {f.name for f in dataclasses.fields(Config)})
  if unknown:
    raise ConfigError(
      unknown[0], f"in {path}: not an option of this version of sdn_tf"
    )
  # Work dirs written before --jit_compile took auto stored a bool.
  if isinstance(values.get("jit_compile"), bool):
    values["jit_compile"] = "true" if values["jit_compile"] else "false"
  return Config(**values)


def changed_settings(cached: dict, current: dict) -> str:
  """'--name: cached a, now b, ...' for each setting of `current` that a
  cache's recorded `cached` settings do not match; '' when all do."""
  return ", ".join(
    f"--{name}: cached {cached.get(name)}, now {value}"
    for name, value in current.items()
    if cached.get(name) != value
  )


def latest_checkpoint(workdir: str) -> Optional[str]:
  """The newest checkpoint prefix under `workdir/checkpoints`, or None."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  folder = checkpoint_dir(workdir)
  return tf.train.latest_checkpoint(folder) if os.path.isdir(folder) else None


def export_versions(export_root: str, complete_only: bool = False):
  """The integer version dirs under `export_root`, ascending.

  With `complete_only`, only those that hold a SavedModel (one still being
  written has none yet).
  """
  if not os.path.isdir(export_root):
    return []
  versions = sorted(int(n) for n in os.listdir(export_root) if n.isdigit())
  if complete_only:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    versions = [
      v
      for v in versions
      if tf.saved_model.contains_saved_model(os.path.join(export_root, str(v)))
    ]
  return versions


def latest_export(export_root: str) -> Optional[str]:
  """The newest complete SavedModel version dir under `export_root`."""
  versions = export_versions(export_root, complete_only=True)
  return os.path.join(export_root, str(versions[-1])) if versions else None
