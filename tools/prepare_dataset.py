"""Converts a data set on disk into sharded TFRecords + vocab + metadata.

    python tools/prepare_dataset.py --dataset=cub --data_dir=/data/birds \
        --out_dir=/data/prepared/cub

Layouts and their options are described in `sdn_tf/data/<dataset>.py`;
this tool only maps flags onto `layouts.load_dataset` and
`records_writer.convert`. A mistake in the flags or the data is reported as
one line on stderr with exit status 2; a traceback means a bug.
"""

import os
import sys

# Run as `python tools/prepare_dataset.py`, Python puts tools/ on sys.path,
# not the repository root that holds the sdn_tf package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags

from sdn_tf import cli
from sdn_tf.data import cub
from sdn_tf.data import layouts
from sdn_tf.data.records import writer as records_writer

_PROG = "prepare_dataset"

FLAGS = flags.FLAGS
flags.DEFINE_enum(
  "dataset",
  None,
  list(layouts.dataset_names()) + [layouts.AUTO],
  "Layout of --data_dir (auto: detect it).",
)
flags.DEFINE_string("data_dir", None, "The data set as downloaded.")
flags.DEFINE_string("out_dir", None, "Where to write the prepared data set.")
flags.DEFINE_enum(
  "split",
  None,
  list(cub.SPLIT_RULES),
  "cub only: class_disjoint (default; text-to-image split) "
  "or official (train_test_split.txt).",
)
flags.DEFINE_string(
  "test_classes_file",
  None,
  "cub/oxford102: file naming the test classes, one a line.",
)
flags.DEFINE_float(
  "test_fraction",
  None,
  "folder only: fraction of images hashed into the test split (default 0.1).",
  lower_bound=0.0,
  upper_bound=1.0,
)
flags.DEFINE_bool(
  "strict",
  False,
  "Stop at the first bad image or caption file instead of "
  "skipping and counting it.",
)
flags.DEFINE_integer("num_shards", None, "Shards per split.", lower_bound=1)
flags.DEFINE_integer(
  "examples_per_shard",
  None,
  "Examples per shard (default 1000; shards also close at 100 MB).",
  lower_bound=1,
)
flags.DEFINE_integer(
  "vocab_min_count",
  1,
  "Leave out words seen fewer times in training captions.",
  lower_bound=1,
)
flags.DEFINE_bool("overwrite", False, "Replace a non-empty --out_dir.")
flags.DEFINE_float(
  "validation_fraction",
  records_writer.DEFAULT_VALIDATION_FRACTION,
  "Share of the training images (hashed by id) written to the validation "
  "split, for tuning; the test split is left alone.",
  lower_bound=0.0,
  upper_bound=1.0,
)


def _format_duration(seconds: float) -> str:
  minutes, seconds = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return (
    f"{hours}:{minutes:02d}:{seconds:02d}"
    if hours
    else f"{minutes}:{seconds:02d}"
  )


def _print_progress(progress: records_writer.Progress) -> None:
  done = (
    f"{progress.processed}/{progress.total}"
    if progress.total
    else str(progress.processed)
  )
  eta = progress.eta_s
  eta_text = f", ETA {_format_duration(eta)}" if eta is not None else ""
  print(
    f"{done} images ({progress.rate:.1f}/s{eta_text}), "
    f"{progress.skipped} skipped",
    file=sys.stderr,
    flush=True,
  )


def format_summary(summary: records_writer.ConversionSummary) -> str:
  """The closing report: what was written, what was skipped and why."""
  lines = [f"Wrote {summary.out_dir}:"]
  for split, count in summary.num_examples.items():
    lines.append(
      f"  {split}: {count} images in {summary.num_shards[split]} shard(s)"
    )
  lines.append(
    f"  vocabulary: {summary.vocab_size} tokens (training captions only)"
  )
  skipped = sum(summary.skipped.values())
  lines.append(f"Skipped {skipped} image(s)" + (":" if skipped else "."))
  lines.extend(
    f"  {reason.replace('_', ' ')}: {count}"
    for reason, count in sorted(summary.skipped.items())
  )
  for reason, count in sorted(summary.warnings.items()):
    lines.append(
      f"Warning: {count} file(s) with {reason.replace('_', ' ')} "
      f"(kept, decoded with replacement characters)"
    )
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    cli.fail(
      f"unexpected arguments {argv[1:]}; every option is a --flag", _PROG
    )
  options = records_writer.WriterOptions(
    examples_per_shard=FLAGS.examples_per_shard,
    num_shards=FLAGS.num_shards,
    strict=FLAGS.strict,
    vocab_min_count=FLAGS.vocab_min_count,
    overwrite=FLAGS.overwrite,
    validation_fraction=FLAGS.validation_fraction,
  )
  summary = cli.run_reporting_user_errors(_convert, options, prog=_PROG)
  print(format_summary(summary))


def _convert(
  options: records_writer.WriterOptions,
) -> records_writer.ConversionSummary:
  options.check()
  source = layouts.load_dataset(
    FLAGS.dataset,
    FLAGS.data_dir,
    split=FLAGS.split,
    test_classes_file=FLAGS.test_classes_file,
    test_fraction=FLAGS.test_fraction,
  )
  print(
    f"{source.name} at {source.data_dir}: "
    f"{len(source.class_names)} class(es); split: {source.split_rule}",
    file=sys.stderr,
  )
  return records_writer.convert(
    source, FLAGS.out_dir, options, progress=_print_progress
  )


if __name__ == "__main__":
  flags.mark_flags_as_required(["dataset", "data_dir", "out_dir"])
  app.run(main, flags_parser=cli.flags_parser(_PROG))
