"""The rules behind --precision=auto and --jit_compile=auto, per machine."""

from sdn_tf.utils import hardware

AMX = hardware.Machine("cpu", frozenset({"avx512f", "amx_bf16", "amx_tile"}))
AVX512_BF16 = hardware.Machine("cpu", frozenset({"avx512f", "avx512_bf16"}))
PLAIN_CPU = hardware.Machine("cpu", frozenset({"avx2", "fma"}))


def test_bfloat16_on_cpus_that_compute_in_it():
  for machine in (AMX, AVX512_BF16):
    choice = hardware.choose_precision(machine)
    assert choice.value == "mixed_bfloat16"
    assert "bf16" in choice.reason


def test_float32_on_cpus_that_would_emulate_bfloat16():
  choice = hardware.choose_precision(PLAIN_CPU)
  assert choice.value == "float32"
  assert "emulated" in choice.reason


def test_gpus_by_compute_capability():
  ampere = hardware.Machine("gpu", gpu_capability=(8, 0))
  hopper = hardware.Machine("gpu", gpu_capability=(9, 0))
  turing = hardware.Machine("gpu", gpu_capability=(7, 5))
  unknown = hardware.Machine("gpu")
  assert hardware.choose_precision(ampere).value == "mixed_bfloat16"
  assert hardware.choose_precision(hopper).value == "mixed_bfloat16"
  assert hardware.choose_precision(turing).value == "float32"
  assert hardware.choose_precision(unknown).value == "float32"


def test_tpu_is_bfloat16_and_compiled():
  tpu = hardware.Machine("tpu")
  assert hardware.choose_precision(tpu).value == "mixed_bfloat16"
  assert hardware.choose_jit_compile(tpu, "mixed_bfloat16").value is True


def test_xla_off_on_cpus_on_for_gpus():
  for machine in (PLAIN_CPU, AMX):
    assert hardware.choose_jit_compile(machine, "mixed_bfloat16").value is False
    float32 = hardware.choose_jit_compile(machine, "float32")
    assert float32.value is False
    # The way to the faster step is named.
    assert "--jit_compile=measure" in float32.reason
  gpu = hardware.Machine("gpu", gpu_capability=(8, 0))
  assert hardware.choose_jit_compile(gpu, "mixed_bfloat16").value is True


def test_read_cpu_flags(tmp_path):
  cpuinfo = tmp_path / "cpuinfo"
  cpuinfo.write_text(
    "processor\t: 0\nmodel name\t: Test CPU\n"
    "flags\t\t: fpu sse2 avx512_bf16 amx_bf16\n\n"
    "processor\t: 1\nflags\t\t: fpu sse2 avx512_bf16 amx_bf16\n"
  )
  assert hardware.read_cpu_flags(str(cpuinfo)) == {
    "fpu",
    "sse2",
    "avx512_bf16",
    "amx_bf16",
  }
  assert hardware.read_cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_detect_this_machine():
  machine = hardware.detect()
  assert machine.kind in ("cpu", "gpu")
  assert machine.cpu_flags == hardware.read_cpu_flags()
