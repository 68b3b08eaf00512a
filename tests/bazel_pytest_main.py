"""Runs pytest files as one Bazel py_test (see tools/bazel/pytest.bzl).

    bazel_pytest_main.py --select={all,not_slow,slow} [PYTEST_ARGS...] FILE...

Bazel starts this script from the test's runfiles tree, whose root (the
working directory) mirrors the checkout: pytest finds pyproject.toml and the
conftest.py files there, as when run from the repository root. Exits with
pytest's status, except that "no tests collected" counts as a pass for
--select=not_slow (a file whose tests are all slow).
"""

import os
import sys

_SELECT = {
  "all": [],
  "not_slow": ["-m", "not slow"],
  "slow": ["-m", "slow"],
}
_NO_TESTS_COLLECTED = 5


def _pytest_args(argv):
  select = "all"
  rest = []
  for arg in argv:
    if arg.startswith("--select="):
      select = arg.split("=", 1)[1]
      if select not in _SELECT:
        raise SystemExit(
          f"bazel_pytest_main: unknown {arg}; one of {sorted(_SELECT)}"
        )
    else:
      rest.append(arg)
  args = ["-q", "-p", "no:cacheprovider"] + _SELECT[select]
  # Bazel's per-test scratch folder and its JUnit XML file, when run by Bazel.
  if os.environ.get("TEST_TMPDIR"):
    args.append(
      "--basetemp=" + os.path.join(os.environ["TEST_TMPDIR"], "pytest")
    )
  if os.environ.get("XML_OUTPUT_FILE"):
    args.append("--junitxml=" + os.environ["XML_OUTPUT_FILE"])
  return select, args + rest


def main(argv):
  # Python put the folder of this script's *resolved* path first on sys.path:
  # the checkout's tests/ folder, outside the runfiles. Drop it, so that only
  # declared dependencies are importable.
  here = os.path.dirname(os.path.realpath(__file__))
  if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == here:
    del sys.path[0]
  import pytest  # pylint: disable=import-outside-toplevel

  select, args = _pytest_args(argv)
  status = int(pytest.main(args))
  if status == _NO_TESTS_COLLECTED and select == "not_slow":
    status = 0
  return status


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
