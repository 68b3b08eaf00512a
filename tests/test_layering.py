"""The package's floors: imports only run down, never back up.

Entry points (`python -m sdn_tf.X`) sit on top and nothing imports them;
`sdn_tf.models` and `sdn_tf.text` are pure Keras/TensorFlow with explicit
arguments and import nothing of the configuration, the training code or the
data layer (the keras-hub habit). Read from the sources with `ast`, so the
check is instant and sees imports inside functions too.
"""

import ast
import pathlib
from typing import Iterator
from typing import Tuple

import pytest

ROOT = pathlib.Path(__file__).absolute().parent.parent
PACKAGE = ROOT / "sdn_tf"
ENTRY_POINTS = (
  "sdn_tf.train",
  "sdn_tf.launch_local",
  "sdn_tf.export",
  "sdn_tf.sample",
  "sdn_tf.judge_shapes",
  "sdn_tf.evaluate",
  "sdn_tf.serve",
  "sdn_tf.serving.client",
  "sdn_tf.serving.saved_model_cli",
)
# Floor -> the first-party modules (and their submodules) it must not import.
FORBIDDEN = {
  "sdn_tf.models": (
    "sdn_tf.config",
    "sdn_tf.training",
    "sdn_tf.data",
    "sdn_tf.cli",
  ),
  "sdn_tf.text": (
    "sdn_tf.config",
    "sdn_tf.training",
    "sdn_tf.data",
    "sdn_tf.cli",
    "sdn_tf.models",
  ),
  # The ground floor: helpers that any module may import.
  "sdn_tf.utils": (
    "sdn_tf.config",
    "sdn_tf.training",
    "sdn_tf.data",
    "sdn_tf.cli",
    "sdn_tf.models",
    "sdn_tf.text",
    "sdn_tf.serving.export_lib",
    "sdn_tf.evaluation",
  ),
}


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def _imports(path: pathlib.Path) -> Iterator[Tuple[int, str]]:
  """(line, module) of every absolute import in `path`, nested ones too."""
  tree = ast.parse(path.read_text(), filename=str(path))
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield node.lineno, node.module
      for alias in node.names:
        yield node.lineno, f"{node.module}.{alias.name}"


def _within(module: str, prefix: str) -> bool:
  return module == prefix or module.startswith(prefix + ".")


def _modules():
  return sorted(
    p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts
  )


def test_the_check_sees_the_package():
  names = {_module_name(p) for p in _modules()}
  assert {
    "sdn_tf.models.generator",
    "sdn_tf.text.encoders",
    "sdn_tf.train",
  } <= names


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_lower_floors_do_not_import_upper_ones(floor):
  problems = []
  for path in _modules():
    if not _within(_module_name(path), floor):
      continue
    for line, imported in _imports(path):
      for forbidden in FORBIDDEN[floor]:
        if _within(imported, forbidden):
          problems.append(
            f"{path.relative_to(ROOT)}:{line} imports "
            f"{imported} ({floor} must not import {forbidden})"
          )
  assert not problems, "\n".join(sorted(set(problems)))


def test_nothing_below_the_entry_points_imports_one():
  problems = []
  for path in _modules():
    if _module_name(path) in ENTRY_POINTS:
      continue
    for line, imported in _imports(path):
      if imported in ENTRY_POINTS:
        problems.append(
          f"{path.relative_to(ROOT)}:{line} imports the entry point {imported}"
        )
  assert not problems, "\n".join(sorted(set(problems)))
