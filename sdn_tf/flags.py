"""absl flags for the entry points, derived from `sdn_tf.config.Config`.

This is the only module that reads `FLAGS`. Each `Config` field becomes a
flag of the same name, type, default and help (an enum flag where the field
lists its choices), so adding an option means adding one field.
"""

import dataclasses
import typing

from absl import flags

from sdn_tf import config as config_lib

FLAGS = flags.FLAGS

_DEFINERS = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
}


def define_config_flags() -> None:
  """Defines one flag per Config field (idempotent)."""
  hints = typing.get_type_hints(config_lib.Config)
  for field in dataclasses.fields(config_lib.Config):
    if field.name in FLAGS:
      continue
    choices = field.metadata.get("choices")
    if choices:
      flags.DEFINE_enum(field.name, field.default, list(choices),
                        field.metadata["help"])
    else:
      _DEFINERS[hints[field.name]](field.name, field.default,
                                   field.metadata["help"])


def config_from_flags() -> config_lib.Config:
  """The Config the parsed flags describe (raises ConfigError if bad)."""
  values = {field.name: FLAGS[field.name].value
            for field in dataclasses.fields(config_lib.Config)}
  return config_lib.Config(**values)
