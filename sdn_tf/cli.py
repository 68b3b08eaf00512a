"""What every entry point shares: user errors become one line, not a trace."""

import sys

from absl import logging

from sdn_tf.config import ConfigError
from sdn_tf.data.loader_common import DatasetError

# Mistakes a user can make (a flag, a path, their data): reported in one
# line. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ConfigError, DatasetError, FileNotFoundError,
               NotADirectoryError)


def run_reporting_user_errors(function, *args, **kwargs):
  """Calls `function`; a user error exits with status 2 and one line."""
  try:
    return function(*args, **kwargs)
  except USER_ERRORS as e:
    logging.flush()
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
