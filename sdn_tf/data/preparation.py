"""Makes sure a training run has prepared data, preparing it when missing.

`python -m sdn_tf.train` on a fresh machine must need nothing else: for
the built-in shapes it generates the raw data set, then converts it to
TFRecords; for the other layouts it converts `--raw_data_dir` (the data
the user downloaded) once, on first use.
"""

import json
import os
from typing import Optional

from absl import logging

from sdn_tf.config import Config
from sdn_tf.data import layouts
from sdn_tf.data import shapes
from sdn_tf.data.records import schema
from sdn_tf.data.records import writer as records_writer
from sdn_tf.utils import progress as progress_lib


def prepared_format(data_dir: str) -> Optional[int]:
  """The format version of the prepared data in `data_dir`, None if none."""
  path = os.path.join(data_dir, schema.METADATA_FILE)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      return int(json.load(f).get("format_version", 1))
  except (ValueError, TypeError, AttributeError):
    return 0  # unreadable: prepare again


def is_prepared(data_dir: str) -> bool:
  """Prepared in this version's format (older ones lack validation)."""
  return prepared_format(data_dir) == records_writer.FORMAT_VERSION


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


def ensure_shapes_generated(config: Config) -> None:
  """Generates the shapes data set in --raw_data_dir unless it is there."""
  if shapes.is_shapes_dataset(config.raw_data_dir):
    return
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
    config.seed,
    progress=_log_generation,
  )


def ensure_prepared(config: Config) -> str:
  """Returns --data_dir, preparing it from --raw_data_dir if needed."""
  found = prepared_format(config.data_dir)
  if found == records_writer.FORMAT_VERSION:
    return config.data_dir
  if found is not None:
    logging.warning(
      "%s holds prepared data of format %s, this version writes %s "
      "(a validation split and attributes): preparing it again",
      config.data_dir,
      found,
      records_writer.FORMAT_VERSION,
    )
  if config.dataset == "shapes":
    ensure_shapes_generated(config)
  options = {}
  if "split" in layouts.loader_options(config.dataset):
    options["split"] = config.split
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
    records_writer.WriterOptions(overwrite=found is not None),
    progress=_log_conversion,
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
