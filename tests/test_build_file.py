"""Keeps the Bazel BUILD file in step with the Python sources (no Bazel needed).

The root BUILD file is executed as Python with stand-ins for the few Bazel
functions it uses (load, py_library, py_binary, py_test, pytest_test, glob,
filegroup, ...), which record the targets. Then:

  * every .py file under sdn_tf/, tools/ and tests/ is in some target's srcs;
  * every file a target names exists, every label names a target or file;
  * every dependency names a target of the BUILD file, without cycles;
  * a file is in the srcs of at most one py_library;
  * every first-party import (sdn_tf..., tools..., tests...) is of a module of
    the target itself or of a direct dependency, and every target reaches the
    __init__.py of the packages its files live in;
  * a test that runs a first-party module (`python -m sdn_tf.train`, a module
    name as a string) or script (`tools/make_shapes.py`, a path as a string
    or an `os.path.join` of strings) has its target in its runfiles (deps or
    data, transitively): imports alone do not show these;
  * test files that mark tests slow say slow = True, and only those;
  * a test that names a file of configs/ has it in its (transitive) data.

Under Bazel (//:tests/test_build_file) the same checks run on the runfiles
tree, which holds BUILD and, through glob()s, every .py file.

`python tests/test_build_file.py` prints a BUILD declaration, following the
pattern of BUILD and with the deps its imports need, for every Python file
that has no target yet.
"""

import ast
import dataclasses
import pathlib
import re
import sys
from typing import Dict
from typing import List
from typing import Optional
from typing import Set

import pytest

ROOT = pathlib.Path(__file__).absolute().parent.parent
BUILD_FILE = ROOT / "BUILD"
SOURCE_DIRS = ("sdn_tf", "tools", "tests")
FIRST_PARTY = frozenset(SOURCE_DIRS)
# What tools/bazel/pytest.bzl adds to every pytest_test.
PYTEST_RUNNER = "tests/bazel_pytest_main.py"
PYTEST_SUPPORT = "pytest_support"
RULES = ("py_library", "py_binary", "py_test", "filegroup")


@dataclasses.dataclass
class Target:
  kind: str
  name: str
  srcs: List[str]
  deps: List[str]
  data: List[str]
  main: Optional[str] = None
  slow: Optional[bool] = None  # pytest_test only.
  macro: Optional[str] = None
  twin: bool = False  # The NAME_slow twin of a pytest_test: not checked twice.


def _as_list(value, what):
  if value is None:
    return []
  if isinstance(value, str) or not isinstance(value, (list, tuple)):
    raise TypeError(f"{what} must be a list of strings, got {value!r}")
  return list(value)


def _glob(include, exclude=(), allow_empty=True, exclude_directories=1):
  del allow_empty, exclude_directories
  found = set()
  for pattern in include:
    found.update(
      p.relative_to(ROOT).as_posix()
      for p in ROOT.glob(pattern)
      if p.is_file() and "__pycache__" not in p.parts
    )
  for pattern in exclude:
    found.difference_update(
      p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)
    )
  return sorted(found)


def load_build() -> Dict[str, Target]:
  """Executes BUILD with stand-ins; returns its targets by name."""
  targets: Dict[str, Target] = {}

  def add(target):
    if target.name in targets:
      raise ValueError(f"BUILD: target {target.name!r} is declared twice")
    targets[target.name] = target

  def rule(kind):
    def declare(name, srcs=None, deps=None, data=None, main=None, **unused):
      del unused
      add(
        Target(
          kind,
          name,
          _as_list(srcs, f"{name}.srcs"),
          _as_list(deps, f"{name}.deps"),
          _as_list(data, f"{name}.data"),
          main=main,
        )
      )

    return declare

  def pytest_test(name, srcs=None, deps=None, data=None, slow=False, **unused):
    del unused
    srcs = [name + ".py"] if srcs is None else _as_list(srcs, f"{name}.srcs")
    names = [name, name + "_slow"] if slow else [name]
    for n in names:
      add(
        Target(
          "py_test",
          n,
          srcs + ["//:" + PYTEST_RUNNER],
          _as_list(deps, f"{name}.deps") + ["//:" + PYTEST_SUPPORT],
          _as_list(data, f"{name}.data"),
          main="//:" + PYTEST_RUNNER,
          slow=bool(slow),
          macro="pytest_test",
          twin=n != name,
        )
      )

  def ignore(*args, **kwargs):
    del args, kwargs

  scope = {name: rule(name) for name in RULES}
  scope.update(
    pytest_test=pytest_test,
    glob=_glob,
    load=ignore,
    package=ignore,
    licenses=ignore,
    exports_files=ignore,
  )
  code = compile(BUILD_FILE.read_text(), str(BUILD_FILE), "exec")
  unknown = None
  try:
    exec(
      code,
      {
        "__builtins__": {
          "True": True,
          "False": False,
          "None": None,
          "dict": dict,
          "len": len,
        }
      },
      scope,
    )  # pylint: disable=exec-used
  except NameError as e:
    unknown = str(e)
  if unknown:
    pytest.fail(
      f"BUILD: {unknown}: tests/test_build_file.py knows only "
      f"{sorted(scope)}; give it a stand-in for the new function",
      pytrace=False,
    )
  return targets


def _checked(targets: Dict[str, "Target"]) -> List["Target"]:
  """The targets to check (a slow twin has the same attributes as its test)."""
  return [t for t in targets.values() if not t.twin]


@pytest.fixture(scope="module")
def targets():
  return load_build()


def _label_name(label: str) -> Optional[str]:
  """Name within the root package for ":x" and "//:x"; None for other labels."""
  if label.startswith("//:"):
    return label[3:]
  if label.startswith(":"):
    return label[1:]
  if label.startswith("//") or label.startswith("@"):
    return None
  return label  # A plain file name, relative to the root package.


def _label_file(label: str) -> pathlib.Path:
  """The source file a label would name."""
  if label.startswith("//"):
    package, _, name = label[2:].partition(":")
    return ROOT / package / name
  return ROOT / _label_name(label)


def _files(target: Target, targets: Dict[str, Target]) -> List[str]:
  """Repository-relative files in a target's srcs (labels of files resolved)."""
  out = []
  for label in target.srcs:
    name = _label_name(label)
    if name is not None and name in targets:
      continue
    out.append(_label_file(label).relative_to(ROOT).as_posix())
  return out


def _source_files() -> List[str]:
  found = []
  for folder in SOURCE_DIRS:
    for path in (ROOT / folder).rglob("*.py"):
      if "__pycache__" not in path.parts:
        found.append(path.relative_to(ROOT).as_posix())
  if (ROOT / "conftest.py").exists():
    found.append("conftest.py")
  return sorted(found)


def _owners(targets: Dict[str, Target]) -> Dict[str, List[Target]]:
  owners: Dict[str, List[Target]] = {}
  for target in targets.values():
    if target.kind == "filegroup":
      continue
    for f in _files(target, targets):
      owners.setdefault(f, []).append(target)
  return owners


_OWNER_PREFERENCE = {"py_library": 0, "py_binary": 1, "py_test": 2}


def _owner(path: str, owners) -> Optional[Target]:
  """The target that provides module `path` to others: a library if any."""
  candidates = owners.get(path, [])
  if not candidates:
    return None
  return min(candidates, key=lambda t: _OWNER_PREFERENCE[t.kind])


def _closure(target: Target, targets: Dict[str, Target]) -> List[Target]:
  seen: Dict[str, Target] = {}
  stack = [target]
  while stack:
    t = stack.pop()
    if t.name in seen:
      continue
    seen[t.name] = t
    for dep in t.deps:
      name = _label_name(dep)
      if name in targets:
        stack.append(targets[name])
  return list(seen.values())


def _module_file(module: str) -> Optional[str]:
  """Repository-relative file of a first-party module, if it exists."""
  base = module.replace(".", "/")
  for candidate in (base + ".py", base + "/__init__.py"):
    if (ROOT / candidate).is_file():
      return candidate
  return None


def _imported_files(path: str) -> Set[str]:
  """First-party files that the module at `path` imports."""
  tree = ast.parse((ROOT / path).read_text(), filename=path)
  package = path[:-3].split("/")
  package = package[:-1]  # For __init__.py too: its own package.
  out = set()

  def add(module):
    parts = module.split(".")
    if parts[0] not in FIRST_PARTY:
      return
    while parts:  # "import a.b.c" is a/b/c.py, or a/b/c/__init__.py, ...
      resolved = _module_file(".".join(parts))
      if resolved is not None:
        if resolved != path:
          out.add(resolved)
        return
      parts = parts[:-1]

  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        add(alias.name)
    elif isinstance(node, ast.ImportFrom):
      if node.level:
        base = package[: len(package) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
      else:
        prefix = node.module
      for alias in node.names:
        # "from a.b import c": c is the module a/b/c.py, or a name from a.b.
        if _module_file(prefix + "." + alias.name) is not None:
          add(prefix + "." + alias.name)
        else:
          add(prefix)
  return out


def _parent_inits(path: str) -> List[str]:
  parts = path.split("/")[:-1]
  inits = []
  for i in range(1, len(parts) + 1):
    init = "/".join(parts[:i]) + "/__init__.py"
    if (ROOT / init).is_file():
      inits.append(init)
  return inits


def _fail(problems: List[str], header: str):
  if problems:
    pytest.fail(header + "\n  " + "\n  ".join(sorted(problems)), pytrace=False)


def test_build_file_parses(targets):
  assert targets, "BUILD declares no targets"


def test_every_python_file_belongs_to_a_target(targets):
  owners = _owners(targets)
  orphans = [f for f in _source_files() if f not in owners]
  _fail(
    orphans,
    "Python files in no BUILD target (add a py_library, py_binary or "
    "pytest_test for each, see the comments in BUILD):",
  )


def test_every_named_file_exists(targets):
  problems = []
  for target in _checked(targets):
    for attr in ("srcs", "data"):
      for label in getattr(target, attr):
        name = _label_name(label)
        if name is not None and name in targets:
          continue
        if label.startswith("@"):
          problems.append(
            f"//:{target.name} {attr}: external label {label} (not offline)"
          )
        elif not _label_file(label).exists():
          problems.append(f"//:{target.name} {attr}: {label} does not exist")
    if target.main is None and target.kind in ("py_binary", "py_test"):
      if target.name + ".py" not in _files(target, targets):
        problems.append(
          f"//:{target.name}: no main, and {target.name}.py is not in srcs"
        )
    if target.main is not None:
      if _label_file(target.main).as_posix() not in {
        _label_file(s).as_posix() for s in target.srcs
      }:
        problems.append(f"//:{target.name} main: {target.main} is not in srcs")
  _fail(problems, "BUILD names files that do not exist:")


def test_every_dependency_is_a_target(targets):
  problems = []
  for target in _checked(targets):
    for dep in target.deps:
      name = _label_name(dep)
      if name is None or name not in targets:
        problems.append(f"//:{target.name} deps: {dep} is no target of BUILD")
      elif targets[name].kind not in ("py_library", "py_binary"):
        problems.append(
          f"//:{target.name} deps: {dep} is a {targets[name].kind}"
        )
  _fail(problems, "BUILD has deps that are no py_library/py_binary of BUILD:")


def test_no_dependency_cycles(targets):
  cycles = set()
  state: Dict[str, int] = {}  # 1: on the current path, 2: done.
  path: List[str] = []

  def visit(name):
    state[name] = 1
    path.append(name)
    for dep in targets[name].deps:
      dep = _label_name(dep)
      if dep not in targets:
        continue
      if state.get(dep) == 1:
        cycle = path[path.index(dep) :] + [dep]
        cycles.add(" -> ".join("//:" + n for n in cycle))
      elif dep not in state:
        visit(dep)
    path.pop()
    state[name] = 2

  for name in targets:
    if name not in state:
      visit(name)
  _fail(sorted(cycles), "Dependency cycles in BUILD:")


def test_no_module_in_two_libraries(targets):
  problems = []
  for path, owners in _owners(targets).items():
    libraries = sorted("//:" + t.name for t in owners if t.kind == "py_library")
    if len(libraries) > 1:
      problems.append(f"{path}: {', '.join(libraries)}")
  _fail(problems, "Files in the srcs of several py_library targets:")


def test_imports_are_declared_dependencies(targets):
  owners = _owners(targets)
  problems = []
  for target in _checked(targets):
    if target.kind == "filegroup":
      continue
    direct = {target.name} | {_label_name(d) for d in target.deps}
    reachable = set()
    for t in _closure(target, targets):
      reachable.update(_files(t, targets))
    for path in _files(target, targets):
      if not path.endswith(".py") or not (ROOT / path).is_file():
        continue
      for imported in sorted(_imported_files(path)):
        owner = _owner(imported, owners)
        if owner is None:
          continue  # Reported by test_every_python_file_belongs_to_a_target.
        if owner.name not in direct and not any(
          t.name in direct for t in owners[imported]
        ):
          problems.append(
            f'{path} imports {imported}: add ":{owner.name}" to '
            f"the deps of //:{target.name}"
          )
      for init in _parent_inits(path):
        if init not in reachable:
          owner = _owner(init, owners)
          hint = f'":{owner.name}"' if owner else f"a target for {init}"
          problems.append(
            f"{path} lives in the package of {init}: add {hint} "
            f"to the deps of //:{target.name}"
          )
  _fail(problems, "Imports not covered by BUILD dependencies:")


_MODULE_NAME = re.compile(r"(?:%s)(?:\.\w+)+" % "|".join(SOURCE_DIRS))


def _run_files(path: str) -> Set[str]:
  """First-party files that the module at `path` runs rather than imports.

  A string that is a first-party module name (`"sdn_tf.judge_shapes"`, as in
  `[sys.executable, "-m", "sdn_tf.judge_shapes"]`) or a repository-relative
  `.py` path (`"tools/make_shapes.py"`, or `os.path.join("tools",
  "make_shapes.py")`).
  """
  tree = ast.parse((ROOT / path).read_text(), filename=path)
  found = set()

  def add_path(relative: str):
    if (
      relative.endswith(".py")
      and relative.split("/")[0] in FIRST_PARTY
      and (ROOT / relative).is_file()
      and relative != path
    ):
      found.add(relative)

  for node in ast.walk(tree):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
      if _MODULE_NAME.fullmatch(node.value):
        module = _module_file(node.value)
        if module is not None and module != path:
          found.add(module)
      else:
        add_path(node.value)
    elif (
      isinstance(node, ast.Call)
      and isinstance(node.func, ast.Attribute)
      and node.func.attr == "join"
      and node.args
      and all(
        isinstance(a, ast.Constant) and isinstance(a.value, str)
        for a in node.args
      )
    ):
      add_path("/".join(a.value for a in node.args))
  return found


def _runfiles(target: Target, targets: Dict[str, Target]) -> Set[str]:
  """Files a target's runfiles hold: srcs of its deps and data, transitively."""
  out = set()
  stack, seen = [target], set()
  while stack:
    t = stack.pop()
    if t.name in seen:
      continue
    seen.add(t.name)
    out.update(_files(t, targets))
    for label in t.deps + t.data:
      name = _label_name(label)
      if name in targets:
        stack.append(targets[name])
      elif name is not None:
        out.add(name)  # A file given as data, e.g. through glob().
  return out


def test_modules_that_tests_run_are_in_their_runfiles(targets):
  owners = _owners(targets)
  problems = []
  for target in _checked(targets):
    if target.kind != "py_test" or target.name == "tests/test_build_file":
      continue  # test_build_file reads every file through its globs.
    runfiles = _runfiles(target, targets)
    for path in _files(target, targets):
      if not path.endswith(".py") or path == PYTEST_RUNNER:
        continue
      for ran in sorted(_run_files(path)):
        if ran in runfiles:
          continue
        owner = _owner(ran, owners)
        hint = f'":{owner.name}"' if owner else f"a target for {ran}"
        problems.append(
          f"{path} runs {ran}: add {hint} to the deps (module) "
          f"or data (script) of //:{target.name}"
        )
  _fail(
    problems,
    "Modules and scripts that tests run but BUILD leaves out of "
    "their runfiles:",
  )


def _marks_slow(path: str) -> bool:
  """Whether the code (not just the text) of a file uses pytest's mark.slow."""
  tree = ast.parse((ROOT / path).read_text(), filename=path)
  return any(
    isinstance(node, ast.Attribute)
    and node.attr == "slow"
    and isinstance(node.value, ast.Attribute)
    and node.value.attr == "mark"
    for node in ast.walk(tree)
  )


def test_slow_tests_are_tagged(targets):
  problems = []
  for target in _checked(targets):
    if target.macro != "pytest_test":
      continue
    for path in _files(target, targets):
      if path == PYTEST_RUNNER:
        continue
      marks_slow = _marks_slow(path)
      if marks_slow and not target.slow:
        problems.append(
          f"{path} marks tests slow: pass slow = True to "
          f"pytest_test //:{target.name}"
        )
      elif target.slow and not marks_slow:
        problems.append(
          f"{path} marks no test slow: drop slow = True from "
          f"pytest_test //:{target.name}"
        )
  _fail(problems, "pytest_test targets whose slow = ... is wrong:")


def _data_files(target: Target, targets: Dict[str, Target]) -> Set[str]:
  """Files in the runfiles of a target through data (transitively)."""
  out = set()
  for t in _closure(target, targets):
    for label in t.data:
      name = _label_name(label)
      if name is not None and name in targets:
        group = targets[name]
        out.update(
          _label_file(s).relative_to(ROOT).as_posix() for s in group.srcs
        )
      else:
        out.add(_label_file(label).relative_to(ROOT).as_posix())
  return out


def test_tests_declare_the_configs_they_read(targets):
  configs = [p for p in (ROOT / "configs").glob("*") if p.is_file()]
  problems = []
  for target in _checked(targets):
    if target.kind != "py_test":
      continue
    data = _data_files(target, targets)
    for path in _files(target, targets):
      if path == PYTEST_RUNNER or not path.endswith(".py"):
        continue
      text = (ROOT / path).read_text()
      for config in configs:
        rel = config.relative_to(ROOT).as_posix()
        if config.name in text and rel not in data:
          problems.append(
            f'{path} names {config.name}: add "{rel}" or '
            f'":configs" to the data of //:{target.name}'
          )
  _fail(problems, "Tests that read files they do not declare as data:")


# --- python tests/test_build_file.py: BUILD stanzas for the files in none ----

ENTRY_POINTS = frozenset(
  f"sdn_tf/{n}.py"
  for n in (
    "train",
    "evaluate",
    "sample",
    "export",
    "serve",
    "serving/client",
    "serving/saved_model_cli",
  )
)


def _target_name(path: str) -> str:
  return (
    path[: -len("/__init__.py")] if path.endswith("/__init__.py") else path[:-3]
  )


def _stanza(path: str, owners) -> str:
  """A BUILD declaration for `path`, following the pattern of BUILD."""
  name = _target_name(path)
  deps = set()
  for imported in _imported_files(path):
    owner = _owner(imported, owners)
    deps.add(owner.name if owner else _target_name(imported))
  inits = _parent_inits(path)
  if path.endswith("/__init__.py"):
    inits = inits[:-1]
  if inits:
    deps.add(_target_name(inits[-1]))
  deps.discard(name)
  lines = []
  if path.startswith("tests/") and path.rsplit("/", 1)[-1].startswith("test_"):
    lines.append("pytest_test(")
    lines.append(f'    name = "{name}",')
    if _marks_slow(path):
      lines.append("    slow = True,")
  else:
    kind = (
      "py_binary"
      if path.startswith("tools/") or path in ENTRY_POINTS
      else "py_library"
    )
    lines.append(f"{kind}(")
    lines.append(f'    name = "{name}",')
    lines.append(f'    srcs = ["{path}"],')
  text = (ROOT / path).read_text()
  if any(p.name in text for p in (ROOT / "configs").glob("*") if p.is_file()):
    lines.append('    data = [":configs"],')
  if len(deps) == 1:
    lines.append(f'    deps = [":{deps.pop()}"],')
  elif deps:
    lines.append("    deps = [")
    lines.extend(f'        ":{d}",' for d in sorted(deps))
    lines.append("    ],")
  lines.append(")")
  return "\n".join(lines)


def main():
  """Prints a BUILD declaration for every Python file that has no target."""
  owners = _owners(load_build())
  orphans = [f for f in _source_files() if f not in owners]
  # Packages first, so that the output reads like BUILD.
  orphans.sort(
    key=lambda f: (
      not f.startswith("sdn_tf/"),
      f.startswith("tests/"),
      not f.endswith("__init__.py"),
      f,
    )
  )
  for path in orphans:
    print(_stanza(path, owners), end="\n\n")
  print(f"# {len(orphans)} file(s) without a target.", file=sys.stderr)


if __name__ == "__main__":
  main()
