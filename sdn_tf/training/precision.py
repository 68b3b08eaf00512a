"""Turns `--precision=auto` and `--jit_compile=auto` into what this machine
runs fast (the rules are in `sdn_tf.utils.hardware`), and says why."""

import dataclasses

from absl import logging

from sdn_tf.config import Config
from sdn_tf.utils import hardware


def resolve(config: Config, strategy=None, machine=None) -> Config:
  """`config` with a concrete precision and jit_compile; logs each choice."""
  if config.precision != "auto" and config.jit_compile != "auto":
    return config
  machine = machine or hardware.detect(strategy)
  precision = config.precision
  if precision == "auto":
    choice = hardware.choose_precision(machine)
    precision = choice.value
    logging.info("--precision=auto: %s, since %s", precision, choice.reason)
  jit_compile = config.jit_compile
  if jit_compile == "auto":
    choice = hardware.choose_jit_compile(machine, precision)
    jit_compile = "true" if choice.value else "false"
    logging.info("--jit_compile=auto: %s, since %s", jit_compile, choice.reason)
  return dataclasses.replace(
    config, precision=precision, jit_compile=jit_compile
  )
