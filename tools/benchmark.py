"""Times one kind of work against this machine's own matmul peak.

Usage, from the repository root:

  python tools/benchmark.py --mode=train_stage1 [--flagfile=configs/shapes.cfg]
      [--image_size=64] [--batch_size=16] [--precision=auto]
      [--jit_compile=auto] [--steps=10] [--warmup=3]

Modes: train_stage1 and train_stage2 (a full training step, optimizer
update included), generate (the generator's forward pass), teacher (the
VGG19 teacher's forward pass), input (the training input pipeline alone).
Every flag of `sdn_tf.train` is accepted, so a flagfile sets the model.

Prints one JSON line: images/s, step time (median and spread of the timed
steps), FLOPs per image (counted from the step's graph), achieved FLOP/s,
the peak (a large matmul in the step's compute dtype, timed in this same
process) and utilisation = achieved / peak, and the process's peak memory.
A benchmark, not a test: run it on an otherwise idle machine.
"""

import dataclasses
import json
import os
import resource
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

from sdn_tf import benchmarking  # pylint: disable=g-import-not-at-top
from sdn_tf import cli  # pylint: disable=g-import-not-at-top

_PROG = "benchmark.py"

_MODE = flags.DEFINE_enum(
  "mode", "train_stage1", list(benchmarking.MODES), "What to time."
)
_STEPS = flags.DEFINE_integer("steps", 10, "Timed calls, after the warm-up.")
_WARMUP = flags.DEFINE_integer(
  "warmup", 3, "Untimed calls first (tracing, compiling, caches)."
)
_PEAK_SIZE = flags.DEFINE_integer(
  "peak_size", 2048, "Side of the square matmul that measures the peak."
)

_PEAK_DTYPE = {
  "float32": "float32",
  "mixed_bfloat16": "bfloat16",
  "mixed_float16": "float16",
}


def _data_dir(config, scratch: str) -> str:
  """--data_dir if prepared, else a small shapes set made in `scratch`."""
  from sdn_tf.data import preparation  # pylint: disable=g-import-not-at-top

  if preparation.is_prepared(config) or config.dataset != "shapes":
    return preparation.ensure_prepared(config)
  small = dataclasses.replace(
    config,
    raw_data_dir=os.path.join(scratch, "raw"),
    data_dir=os.path.join(scratch, "records"),
    shapes_num_train=min(config.shapes_num_train, 512),
    shapes_num_test=min(config.shapes_num_test, 64),
  )
  return preparation.ensure_prepared(small)


def run(config) -> dict:
  import keras  # pylint: disable=g-import-not-at-top

  from sdn_tf.benchmarking import peak  # pylint: disable=g-import-not-at-top
  from sdn_tf.benchmarking import timing  # pylint: disable=g-import-not-at-top
  from sdn_tf.benchmarking import workloads  # pylint: disable=g-import-not-at-top
  from sdn_tf.training import precision  # pylint: disable=g-import-not-at-top

  config = precision.resolve(config)
  keras.mixed_precision.set_global_policy(config.precision)
  keras.utils.set_random_seed(config.seed)
  # The made-up data set lives only as long as the run: a benchmark
  # repeated in a sweep must not fill the disk with copies of it.
  with tempfile.TemporaryDirectory(prefix="sdn_benchmark_") as scratch:
    data_dir = _data_dir(config, scratch)
    workload = workloads.build(_MODE.value, config, data_dir)
    seconds = timing.time_calls(workload.run, _WARMUP.value, _STEPS.value)
  peak_result = peak.matmul_peak(
    _PEAK_DTYPE[config.precision], _PEAK_SIZE.value
  )
  result = {
    "mode": _MODE.value,
    "image_size": config.image_size,
    "batch_size": config.batch_size,
    "precision": config.precision,
    "jit_compile": config.use_xla,
    "images_per_second": workload.images_per_call / seconds["median"],
    "step_seconds": seconds,
    "flops_per_image": None,
    "flops_counted": workload.flops_counted,
    "achieved_flops_per_second": None,
    "peak": {
      "what": f"{_PEAK_SIZE.value}x{_PEAK_SIZE.value} matmul, "
      f"{peak_result['dtype']}, this process",
      "flops_per_second": peak_result["flops_per_second"],
      "seconds": peak_result["seconds"],
    },
    "utilisation": None,
    # ru_maxrss is in KiB on Linux.
    "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    / 1024,
  }
  if workload.flops_per_call:
    achieved = workload.flops_per_call / seconds["median"]
    result["flops_per_image"] = workload.flops_per_call / (
      workload.images_per_call
    )
    result["achieved_flops_per_second"] = achieved
    result["utilisation"] = achieved / peak_result["flops_per_second"]
  return result


def _check_counts() -> None:
  for flag, minimum in ((_STEPS, 1), (_WARMUP, 0), (_PEAK_SIZE, 1)):
    if flag.value < minimum:
      raise cli.UsageError(
        f"must be at least {minimum}, got {flag.value}", flag=flag.name
      )


def main(argv):
  if len(argv) > 1:
    cli.fail(f"unexpected arguments: {' '.join(argv[1:])}", _PROG)
  cli.run_reporting_user_errors(_check_counts, prog=_PROG)
  config = cli.run_reporting_user_errors(cli.config_from_flags, prog=_PROG)
  result = cli.run_reporting_user_errors(run, config, prog=_PROG)
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  cli.define_config_flags()
  app.run(main, flags_parser=cli.flags_parser(_PROG))
