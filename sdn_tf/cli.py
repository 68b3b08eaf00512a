"""What every entry point and tool shares: flags, one-line user errors
and the JSON line a reporting tool ends with (`report_json_line`).

Each `Config` field becomes an absl flag of the same name, type, default and
help (an enum flag where the field lists its choices), so adding an option
means adding one field; this is the only module that reads `FLAGS`.

A `UsageError` (see `sdn_tf.utils.errors`), or a missing file or folder,
is printed as one line, `[prog: ]error: <message naming the flag, file or
input>`, and the program exits with status 2. Anything else is a bug and
keeps its traceback.
"""

import dataclasses
import json
import sys
import typing
from typing import NoReturn
from typing import Optional

from absl import flags
from absl import logging

from sdn_tf import config as config_lib
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

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
      flags.DEFINE_enum(
        field.name, field.default, list(choices), field.metadata["help"]
      )
    else:
      _DEFINERS[hints[field.name]](
        field.name, field.default, field.metadata["help"]
      )


def config_from_flags() -> config_lib.Config:
  """The Config the parsed flags describe (raises ConfigError if bad)."""
  values = {
    field.name: FLAGS[field.name].value
    for field in dataclasses.fields(config_lib.Config)
  }
  return config_lib.Config(**values)


EXIT_USAGE = 2
USER_ERRORS = (UsageError, FileNotFoundError, NotADirectoryError)


def fail(message: str, prog: Optional[str] = None) -> NoReturn:
  """Prints `message` as the one-line error and exits with status 2."""
  logging.flush()
  prefix = f"{prog}: " if prog else ""
  print(f"{prefix}error: {message}", file=sys.stderr, flush=True)
  sys.exit(EXIT_USAGE)


def run_reporting_user_errors(
  function, *args, prog: Optional[str] = None, **kwargs
):
  """Calls `function`; a user error exits with status 2 and one line."""
  try:
    return function(*args, **kwargs)
  except USER_ERRORS as e:
    fail(str(e), prog)


def report_json_line(
  value, out_path: Optional[str] = None, sort_keys: bool = False
) -> str:
  """Prints `value` as the tool's one JSON line (the last line of its
  output, for scripts) and, when `out_path` is given, writes the same line
  there whole or not at all. Returns the line."""
  line = json.dumps(value, sort_keys=sort_keys)
  print(line, flush=True)
  if out_path:
    files.write_atomically(out_path, line + "\n")
  return line


def flags_parser(prog: Optional[str] = None):
  """A `flags_parser` for `app.run`: a flag error is one line, status 2."""

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      fail(str(e), prog)

  return parse
