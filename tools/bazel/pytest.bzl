"""pytest_test: one py_test target per pytest file.

The tests are plain pytest files (test_* functions, fixtures such as tmp_path),
so each target runs them through tests/bazel_pytest_main.py, which calls
pytest.main() on the file and exits with pytest's status. pytest itself comes
from the interpreter given by --python_path, like every third-party package.

Usage in BUILD (one line per test file):

    pytest_test("tests/data/test_records", deps = [":sdn_tf/data/records"])

The name is the file's path without ".py"; srcs defaults to name + ".py".
Files with tests marked @pytest.mark.slow pass slow = True and get two
targets: NAME runs the others (-m "not slow") and NAME_slow, tagged "slow" and
size "large", runs the slow ones. `bazel test --test_tag_filters=-slow //...`
leaves the latter out.
"""

# The runner and what every pytest run needs (pyproject.toml holds the pytest
# configuration, e.g. the registered markers; conftest.py files).
_RUNNER = "//:tests/bazel_pytest_main.py"
_SUPPORT = "//:pytest_support"

def pytest_test(name, srcs = None, deps = [], data = [], slow = False, args = [], tags = [], **kwargs):
    """Declares py_test target(s) that run one pytest file.

    Args:
      name: target name: the test file's path without ".py".
      srcs: the test file(s); defaults to [name + ".py"].
      deps: py_library targets the test imports (third-party ones excepted).
      data: files the test reads at run time (e.g. "//:configs").
      slow: the file has tests marked @pytest.mark.slow (see above).
      args: extra pytest arguments.
      tags: extra tags.
      **kwargs: passed on to py_test (size, timeout, flaky, ...).
    """
    if srcs == None:
        srcs = [name + ".py"]
    files = ["$(rootpath %s)" % s for s in srcs]
    common = dict(
        srcs = srcs + [_RUNNER],
        main = _RUNNER,
        deps = deps + [_SUPPORT],
        data = data,
        python_version = "PY3",
        srcs_version = "PY3",
    )
    if not slow:
        native.py_test(
            name = name,
            args = ["--select=all"] + args + files,
            tags = tags,
            **dict(common, **kwargs)
        )
        return
    native.py_test(
        name = name,
        args = ["--select=not_slow"] + args + files,
        tags = tags,
        **dict(common, **kwargs)
    )
    slow_kwargs = dict(kwargs)
    if "size" not in slow_kwargs and "timeout" not in slow_kwargs:
        slow_kwargs["size"] = "large"
    native.py_test(
        name = name + "_slow",
        args = ["--select=slow"] + args + files,
        tags = tags + ["slow"],
        **dict(common, **slow_kwargs)
    )
