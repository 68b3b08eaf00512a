"""What every entry point and tool shares: user errors become one line.

A `UsageError` (see `sdn_tf.utils.errors`), or a missing file or folder,
is printed as one line, `[prog: ]error: <message naming the flag, file or
input>`, and the program exits with status 2. Anything else is a bug and
keeps its traceback.
"""

import sys
from typing import NoReturn, Optional

from absl import flags
from absl import logging

from sdn_tf.utils.errors import UsageError

EXIT_USAGE = 2
USER_ERRORS = (UsageError, FileNotFoundError, NotADirectoryError)


def fail(message: str, prog: Optional[str] = None) -> NoReturn:
  """Prints `message` as the one-line error and exits with status 2."""
  logging.flush()
  prefix = f"{prog}: " if prog else ""
  print(f"{prefix}error: {message}", file=sys.stderr, flush=True)
  sys.exit(EXIT_USAGE)


def run_reporting_user_errors(function, *args, prog: Optional[str] = None,
                              **kwargs):
  """Calls `function`; a user error exits with status 2 and one line."""
  try:
    return function(*args, **kwargs)
  except USER_ERRORS as e:
    fail(str(e), prog)


def flags_parser(prog: Optional[str] = None):
  """A `flags_parser` for `app.run`: a flag error is one line, status 2."""

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      fail(str(e), prog)

  return parse
