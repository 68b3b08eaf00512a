"""What the machine runs fast: the choices behind `--precision=auto` and
`--jit_compile=auto`.

The choosing functions are pure (they take what was detected), so tests
cover every kind of machine; `detect()` reads the one this process runs on.
docs/PERFORMANCE.md has the measurements behind each rule.
"""

import dataclasses
from typing import FrozenSet
from typing import Optional
from typing import Tuple

# CPU flags (as /proc/cpuinfo spells them) of native bfloat16 math: oneDNN
# runs bfloat16 convolutions on them; without them it emulates bfloat16,
# slower than float32.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# NVIDIA GPUs run bfloat16 from compute capability 8.0 (Ampere).
BF16_GPU_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class Machine:
  """The accelerator kind the strategy runs on, and what it offers."""

  kind: str  # "cpu", "gpu" or "tpu"
  cpu_flags: FrozenSet[str] = frozenset()
  gpu_capability: Optional[Tuple[int, int]] = None  # the smallest GPU's


@dataclasses.dataclass(frozen=True)
class Choice:
  value: object
  reason: str


def read_cpu_flags(path: str = "/proc/cpuinfo") -> FrozenSet[str]:
  """The CPU's feature flags; empty where /proc/cpuinfo does not exist."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith("flags"):
          return frozenset(line.split(":", 1)[1].split())
  except OSError:
    pass
  return frozenset()


def detect(strategy=None) -> Machine:
  """The machine `strategy` (or TensorFlow's default device) runs on."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  cpu_flags = read_cpu_flags()
  if strategy is not None and "TPU" in type(strategy).__name__:
    return Machine("tpu", cpu_flags)
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    capabilities = [
      tf.config.experimental.get_device_details(gpu).get("compute_capability")
      for gpu in gpus
    ]
    known = [tuple(c) for c in capabilities if c]
    return Machine("gpu", cpu_flags, min(known) if known else None)
  return Machine("cpu", cpu_flags)


def choose_precision(machine: Machine) -> Choice:
  """bfloat16 where the hardware computes in it natively, else float32."""
  if machine.kind == "tpu":
    return Choice("mixed_bfloat16", "TPUs compute in bfloat16")
  if machine.kind == "gpu":
    capability = machine.gpu_capability
    if capability and capability >= BF16_GPU_CAPABILITY:
      return Choice(
        "mixed_bfloat16",
        f"GPU compute capability {capability[0]}.{capability[1]} has "
        "bfloat16 tensor cores",
      )
    return Choice(
      "float32",
      f"GPU compute capability {capability} has no bfloat16 tensor cores "
      "(--precision=mixed_float16 may be faster there)",
    )
  native = [f for f in BF16_CPU_FLAGS if f in machine.cpu_flags]
  if native:
    return Choice(
      "mixed_bfloat16",
      f"the CPU has {' and '.join(native)}: oneDNN runs bfloat16 natively",
    )
  return Choice(
    "float32",
    f"the CPU has none of {', '.join(BF16_CPU_FLAGS)}: bfloat16 would be "
    "emulated, slower than float32",
  )


def choose_jit_compile(machine: Machine, precision: str) -> Choice:
  """XLA only where it is known to help the chosen precision on this
  device without costing quality."""
  if machine.kind == "tpu":
    return Choice(True, "TPU programs are always XLA-compiled")
  if machine.kind == "gpu":
    return Choice(
      True,
      "XLA fuses the many small elementwise ops of a step on GPUs "
      "(not measured by this project; compare with tools/benchmark.py)",
    )
  if precision == "float32":
    return Choice(
      False,
      "on CPU, XLA made float32 training steps faster on some machines "
      "and slower on others, and the one main job whose Stage I ran under "
      "XLA drew worse than the same job without it (docs/RESULTS.md); "
      "--jit_compile=measure times both kinds of step and keeps the faster",
    )
  return Choice(
    False,
    "on CPU, XLA does not use oneDNN's bfloat16 convolutions: "
    f"{precision} steps ran several times slower under XLA",
  )
