"""The one kind of error that is the user's mistake, not a bug.

Every entry point and tool reports a `UsageError` (a bad flag, a missing or
unusable file, bad data) as one line on stderr and exits with status 2
(`sdn_tf.cli.run_reporting_user_errors`); anything else keeps its traceback.
`ConfigError` (a `Config` field), `DatasetError` (data and its layout) and
`ShapesArgumentError` (the shapes generator) are its kinds.
"""

from typing import Optional


class UsageError(ValueError):
  """A user's mistake; the message names the flag, file or input at fault."""

  def __init__(self, message: str, flag: Optional[str] = None):
    super().__init__(f"--{flag}: {message}" if flag else message)
    self.flag = flag
