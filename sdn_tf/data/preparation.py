"""Makes sure a training run has prepared data, preparing it when missing.

`python -m sdn_tf.train` on a fresh machine must need nothing else: for
the built-in shapes it generates the raw data set, then converts it to
TFRecords; for the other layouts it converts `--raw_data_dir` (the data
the user downloaded) once, on first use.
"""

import fnmatch
from typing import Optional

from absl import logging

from sdn_tf.config import Config
from sdn_tf.data import layouts
from sdn_tf.data import shapes
from sdn_tf.data.records import schema
from sdn_tf.data.records import writer as records_writer
from sdn_tf.utils import files
from sdn_tf.utils import progress as progress_lib
from sdn_tf.utils import recorded_settings


def prepared_format(data_dir: str) -> Optional[int]:
  """The format version of the prepared data in `data_dir`, None if none."""
  path = files.join(data_dir, schema.METADATA_FILE)
  if not files.isfile(path):
    return None
  try:
    return int(files.read_json(path).get("format_version", 1))
  except (ValueError, TypeError, AttributeError):
    return 0  # unreadable: prepare again


def is_prepared(config: Config) -> bool:
  """--data_dir holds data prepared in this version's format (older ones
  lack validation) with this run's data flags."""
  return not _why_prepare_again(config, data_settings(config))


def _log_generation(done: int, total: int) -> None:
  logging.info("generating shapes: %d/%d images", done, total)


def _log_conversion(p: records_writer.Progress) -> None:
  eta = progress_lib.format_duration(p.eta_s) if p.eta_s is not None else "?"
  logging.info(
    "preparing TFRecords: %d/%s images (%d skipped) | %.0f img/s | ETA %s",
    p.processed,
    p.total or "?",
    p.skipped,
    p.rate,
    eta,
  )


# The flags that shape the generated shapes -> shapes_info.json's names.
_SHAPES_INFO_KEYS = {
  "shapes_num_train": "num_train",
  "shapes_num_test": "num_test",
  "image_size": "image_size",
  "shapes_seed": "seed",
}


def _shapes_settings(config: Config) -> dict:
  return {flag: getattr(config, flag) for flag in _SHAPES_INFO_KEYS}


def data_settings(config: Config) -> dict:
  """The flags that shape the prepared data in --data_dir."""
  settings = {"dataset": config.dataset}
  if "split" in layouts.loader_options(config.dataset):
    settings["split"] = config.split
  if config.dataset == "shapes":
    settings.update(_shapes_settings(config))
  return settings


def ensure_shapes_generated(config: Config) -> None:
  """Generates the shapes data set in --raw_data_dir unless a complete one
  made with this run's flags is there (an earlier one is replaced)."""
  info = shapes.dataset_info(config.raw_data_dir)
  if info is not None:
    if not info.get("complete"):
      why = "it was never finished"
    else:
      why = recorded_settings.differences(
        {flag: info.get(key) for flag, key in _SHAPES_INFO_KEYS.items()},
        _shapes_settings(config),
      )
    if not why:
      return
    logging.warning(
      "Generating the shapes data set in %s again: %s",
      config.raw_data_dir,
      why,
    )
  logging.info(
    "Generating the shapes data set in %s (%d train, %d test, %d px)",
    config.raw_data_dir,
    config.shapes_num_train,
    config.shapes_num_test,
    config.image_size,
  )
  shapes.write_dataset(
    config.raw_data_dir,
    config.shapes_num_train,
    config.shapes_num_test,
    config.image_size,
    config.shapes_seed,
    progress=_log_generation,
  )


def _recorded_settings(data_dir: str) -> dict:
  """The settings `data_dir` was prepared with. Data prepared before they
  were recorded, or by tools/prepare_dataset.py, name only its layout and
  split rule; shapes made that way are then generated again."""
  try:
    metadata = files.read_json(files.join(data_dir, schema.METADATA_FILE))
    if metadata.get("settings"):
      return metadata["settings"]
    recorded = {"dataset": metadata.get("dataset")}
    if "split" in metadata.get("options", {}):
      recorded["split"] = metadata["options"]["split"]
    return recorded
  except (OSError, ValueError, AttributeError, TypeError):
    return {}


def _why_prepare_again(config: Config, settings: dict) -> str:
  """'' when --data_dir holds data prepared in this version's format with
  `settings`; otherwise why not."""
  found = prepared_format(config.data_dir)
  if found is None:
    return "no prepared data"
  if found != records_writer.FORMAT_VERSION:
    return (
      f"it holds prepared data of format {found}, this version writes "
      f"{records_writer.FORMAT_VERSION} (a validation split and attributes)"
    )
  return recorded_settings.differences(
    _recorded_settings(config.data_dir), settings
  )


def _holds_only_records(data_dir: str) -> bool:
  """True when `data_dir` holds nothing but what the records writer writes:
  on a URL, where the data is copied in file by file, a crash can leave
  such a copy without its metadata.json. Anything else is the user's and
  is never replaced without --overwrite."""
  if not files.isdir(data_dir):
    return False
  return all(
    name in (schema.VOCAB_FILE, schema.METADATA_FILE)
    or fnmatch.fnmatch(name, schema.shard_pattern("*"))
    for name in files.listdir(data_dir)
  )


def ensure_prepared(config: Config) -> str:
  """Returns --data_dir, preparing it from --raw_data_dir unless it holds
  data prepared, in this version's format, with this run's flags."""
  settings = data_settings(config)
  why = _why_prepare_again(config, settings)
  if not why:
    return config.data_dir
  found = prepared_format(config.data_dir)
  if found is not None:
    logging.warning("Preparing %s again: %s", config.data_dir, why)
  if config.dataset == "shapes":
    ensure_shapes_generated(config)
  options = {"split": settings["split"]} if "split" in settings else {}
  source = layouts.load_dataset(config.dataset, config.raw_data_dir, **options)
  logging.info(
    "Preparing %s from %s into %s",
    config.dataset,
    config.raw_data_dir,
    config.data_dir,
  )
  summary = records_writer.convert(
    source,
    config.data_dir,
    records_writer.WriterOptions(
      overwrite=found is not None or _holds_only_records(config.data_dir)
    ),
    progress=_log_conversion,
    settings=settings,
  )
  logging.info(
    "Prepared %s: %s examples, %d skipped (%s), vocabulary of %d in %s",
    config.data_dir,
    summary.num_examples,
    sum(summary.skipped.values()),
    summary.skipped or "none",
    summary.vocab_size,
    progress_lib.format_duration(summary.elapsed_s),
  )
  return config.data_dir
