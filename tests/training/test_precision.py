"""--precision=auto and --jit_compile=auto become concrete, with a reason."""

import dataclasses
import json

from absl import logging
import pytest

from sdn_tf import config as config_lib
from sdn_tf.training import precision
from sdn_tf.training import workdir as workdir_lib
from sdn_tf.utils import hardware

AMX = hardware.Machine("cpu", frozenset({"amx_bf16"}))
PLAIN_CPU = hardware.Machine("cpu", frozenset({"avx2"}))


def test_auto_resolves_per_machine_and_logs_why(monkeypatch):
  lines = []
  monkeypatch.setattr(logging, "info", lambda fmt, *a: lines.append(fmt % a))
  config = config_lib.Config()
  assert (config.precision, config.jit_compile) == ("auto", "auto")
  fast = precision.resolve(config, machine=AMX)
  assert fast.precision == "mixed_bfloat16"
  assert fast.use_xla is False
  slow = precision.resolve(config, machine=PLAIN_CPU)
  assert slow.precision == "float32"
  # XLA's speed varies by CPU and it cost quality once: off unless asked.
  assert slow.jit_compile == "false"
  assert slow.use_xla is False
  assert any("--precision=auto: mixed_bfloat16" in line for line in lines)
  assert any("amx_bf16" in line for line in lines)
  assert any("--jit_compile=auto: false" in line for line in lines)
  assert any("RESULTS.md" in line for line in lines)


def test_explicit_values_are_kept():
  config = config_lib.Config(precision="float32", jit_compile="true")
  assert precision.resolve(config, machine=AMX) is config
  half = dataclasses.replace(config, jit_compile="auto")
  resolved = precision.resolve(half, machine=AMX)
  assert resolved.precision == "float32"
  assert resolved.use_xla is False


def test_unresolved_jit_compile_cannot_be_used():
  with pytest.raises(ValueError, match="jit_compile=auto"):
    _ = config_lib.Config().use_xla


def test_bad_values_name_the_flag():
  with pytest.raises(config_lib.ConfigError, match="jit_compile"):
    config_lib.Config(jit_compile="yes")
  with pytest.raises(config_lib.ConfigError, match="precision"):
    config_lib.Config(precision="bfloat16")


def test_work_dirs_with_a_boolean_jit_compile_still_read(tmp_path):
  values = json.loads(config_lib.Config().to_json())
  values["jit_compile"] = True
  (tmp_path / workdir_lib.CONFIG_FILE).write_text(json.dumps(values))
  assert workdir_lib.read_config(str(tmp_path)).jit_compile == "true"
