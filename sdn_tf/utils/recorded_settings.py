"""Whether something made earlier was made with the flags of this run.

One rule for everything a run reuses instead of rebuilding (prepared data,
the pretrained teacher, the pretrained text encoder): each records the
flags that shaped it, and a rerun compares them with its own.
"""

from typing import Dict


def differences(recorded: Dict, current: Dict) -> str:
  """'--name: cached a, now b, ...' for each setting of `current` that
  `recorded` does not match; '' when all do."""
  return ", ".join(
    f"--{name}: cached {recorded.get(name)}, now {value}"
    for name, value in current.items()
    if recorded.get(name) != value
  )
