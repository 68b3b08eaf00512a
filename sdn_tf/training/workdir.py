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
import re
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from sdn_tf.config import Config
from sdn_tf.config import ConfigError
from sdn_tf.utils import files
from sdn_tf.utils import recorded_settings
from sdn_tf.utils.errors import UsageError

CONFIG_FILE = "config.json"
TEACHER_DIR = "teacher"
TEXT_ENCODER_DIR = "text_encoder"
CHECKPOINT_DIR = "checkpoints"
SUMMARY_DIR = "train"
EXPORT_DIR = "export"


def config_path(workdir: str) -> str:
  return files.join(workdir, CONFIG_FILE)


def teacher_dir(workdir: str) -> str:
  return files.join(workdir, TEACHER_DIR)


def text_encoder_dir(workdir: str) -> str:
  return files.join(workdir, TEXT_ENCODER_DIR)


def checkpoint_dir(workdir: str) -> str:
  return files.join(workdir, CHECKPOINT_DIR)


def summary_dir(workdir: str) -> str:
  return files.join(workdir, SUMMARY_DIR)


def export_dir(workdir: str) -> str:
  return files.join(workdir, EXPORT_DIR)


# Flags a rerun of one work dir may change: how long and how often, on
# which hardware, what is kept. Every other flag shapes the model or its
# training, and a change needs --allow_config_change.
RUN_SETTINGS = frozenset(
  {
    "stage1_steps",
    "stage2_steps",
    "stage1_epochs",
    "stage2_epochs",
    "strategy",
    "num_cpu_devices",
    "tpu",
    "precision",  # --precision=auto resolves per machine
    "jit_compile",
    "log_every",
    "image_every",
    "checkpoint_every",
    "keep_checkpoints",
    "num_eval_captions",
    "eval_every",
    "eval_captions",
    "evaluator_steps",
    "export",
    "keep_exports",
    "allow_config_change",
    "on_non_finite",
    "strict",
    "deterministic",
    "test_poison",
  }
)


class ConfigChangedError(UsageError):
  """A rerun's model-shaping flags differ from the work dir's."""


def write_config(workdir: str, config: Config) -> None:
  files.write_atomically(config_path(workdir), config.to_json())


def config_changes(workdir: str, config: Config) -> Dict[str, Tuple]:
  """{flag: (recorded value, value now)} for each flag that differs from the
  work dir's config.json (none without one). An option newer than the
  work dir counts as recorded with its default."""
  path = config_path(workdir)
  if not files.isfile(path):
    return {}
  recorded = files.read_json(path)
  changes = {}
  for field in dataclasses.fields(Config):
    now = getattr(config, field.name)
    before = recorded.get(field.name, field.default)
    if before != now:
      changes[field.name] = (before, now)
  return changes


def check_config_change(workdir: str, config: Config) -> Dict[str, Tuple]:
  """The run-only changes (to log); raises on a model-shaping change.

  Raises:
    ConfigChangedError: a flag outside RUN_SETTINGS differs, and
      --allow_config_change is not set. The message lists each difference.
  """
  changes = config_changes(workdir, config)
  shaping = {k: v for k, v in changes.items() if k not in RUN_SETTINGS}
  if shaping and not config.allow_config_change:
    listed = "; ".join(
      f"--{name}: {before!r} there, {now!r} now"
      for name, (before, now) in sorted(shaping.items())
    )
    raise ConfigChangedError(
      f"--workdir={workdir} was trained with other flags ({listed}): rerun "
      "with its flags, use another --workdir, or pass "
      "--allow_config_change to go on with the new ones"
    )
  return changes


def read_config(workdir: str) -> Config:
  """The Config a training run wrote to `workdir/config.json`.

  Raises:
    FileNotFoundError: there is no config.json.
    ConfigError: it names an option this version does not know, or a bad
      value.
  """
  path = config_path(workdir)
  if not files.isfile(path):
    raise FileNotFoundError(
      f"--workdir: no {CONFIG_FILE} in {workdir}: is it the work dir of a "
      f"training run?"
    )
  values = files.read_json(path)
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


def cache_differences(report_path: str, settings: Dict) -> str:
  """'' when the cache whose report is `report_path` was made with
  `settings`; otherwise what differs (or that no report is readable).

  The teacher and text-encoder caches record their settings in their
  report; a setting newer than the report counts as recorded with its
  default, so caches made before it existed stay valid.
  """
  try:
    recorded = files.read_json(report_path)["settings"]
  except (OSError, ValueError, KeyError, TypeError):
    return f"no readable report {report_path}"
  defaults = {f.name: f.default for f in dataclasses.fields(Config)}
  recorded = {name: recorded.get(name, defaults.get(name)) for name in settings}
  return recorded_settings.differences(recorded, settings)


def checkpoints_newest_first(workdir: str) -> List[str]:
  """The checkpoint prefixes under `workdir/checkpoints`, newest first.

  Found from the files, not from CheckpointManager's `checkpoint` state
  file: when that file is unreadable, tf.train.latest_checkpoint returns
  None and a resumed run would silently start over. A checkpoint's number
  is the run's global step, so the highest is the newest.
  """
  folder = checkpoint_dir(workdir)
  if not files.isdir(folder):
    return []
  numbers = [
    int(m.group(1))
    for m in map(_CHECKPOINT_INDEX.fullmatch, files.listdir(folder))
    if m
  ]
  return [files.join(folder, f"ckpt-{n}") for n in sorted(numbers)[::-1]]


_CHECKPOINT_INDEX = re.compile(r"ckpt-(\d+)\.index")
# TensorFlow writes a checkpoint under this name, then renames its files.
_UNFINISHED_CHECKPOINT = re.compile(r"ckpt-\d+_temp")


def remove_unfinished_checkpoints(workdir: str) -> List[str]:
  """Deletes what a save cut short by a kill left; returns the paths.

  Never read (a checkpoint counts only by its index file), but each can
  hold a whole model's weights. Only for the one trainer of `workdir`,
  before it saves.
  """
  folder = checkpoint_dir(workdir)
  if not files.isdir(folder):
    return []
  removed = [
    files.join(folder, name)
    for name in files.listdir(folder)
    if _UNFINISHED_CHECKPOINT.fullmatch(name)
  ]
  for path in removed:
    files.rmtree(path, ignore_errors=True)
  return removed


def latest_checkpoint(workdir: str) -> Optional[str]:
  """The newest checkpoint prefix under `workdir/checkpoints`, or None."""
  found = checkpoints_newest_first(workdir)
  return found[0] if found else None


def holds_saved_model(path: str) -> bool:
  """Whether `path` is a SavedModel dir, read from its files alone (what
  tf.saved_model.contains_saved_model checks), so that a bad path is
  reported without loading TensorFlow."""
  return any(
    files.exists(files.join(path, name))
    for name in ("saved_model.pb", "saved_model.pbtxt")
  )


def export_versions(export_root: str, complete_only: bool = False):
  """The integer version dirs under `export_root`, ascending.

  With `complete_only`, only those that hold a SavedModel (one still being
  written has none yet).
  """
  if not files.isdir(export_root):
    return []
  versions = sorted(int(n) for n in files.listdir(export_root) if n.isdigit())
  if complete_only:
    versions = [
      v for v in versions if holds_saved_model(files.join(export_root, str(v)))
    ]
  return versions


def latest_export(export_root: str) -> Optional[str]:
  """The newest complete SavedModel version dir under `export_root`."""
  versions = export_versions(export_root, complete_only=True)
  return files.join(export_root, str(versions[-1])) if versions else None
