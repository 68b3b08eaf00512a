"""Registry of data set layouts: name -> loader, plus layout detection.

    source = layouts.load_dataset("cub", "/data/birds", split="official")

`load_dataset` (name "auto": detect the layout) checks the data dir and the
options eagerly and raises a `DatasetError` (a `ValueError`) with a one-line
message naming the flag or file at fault; when the layout does not match but
looks like another one, the message says which.
"""

import inspect
import os
from typing import Callable
from typing import Dict
from typing import Optional
from typing import Tuple

from sdn_tf.data import cub
from sdn_tf.data import folder
from sdn_tf.data import loader_common as common
from sdn_tf.data import oxford102
from sdn_tf.data import shapes_loader
from sdn_tf.data import stackgan
from sdn_tf.utils import files

Loader = Callable[..., common.DatasetSource]

# The built-in data set first: the order `--dataset`'s help lists them in.
LOADERS: Dict[str, Loader] = {
  shapes_loader.NAME: shapes_loader.load_shapes,
  cub.NAME: cub.load_cub,
  oxford102.NAME: oxford102.load_oxford102,
  stackgan.NAME: stackgan.load_stackgan,
  folder.NAME: folder.load_folder,
}

# `load_dataset` name that means "whichever layout `detect_layout` finds".
AUTO = "auto"

# How many directory entries `detect_layout` looks at for a plain folder, so
# detection stays instant on a huge or wrong directory (e.g. a home dir).
_FOLDER_PROBE_LIMIT = 2000


def dataset_names() -> Tuple[str, ...]:
  """The registered data set names."""
  return tuple(LOADERS)


def get_loader(name: str) -> Loader:
  """The loader registered as `name`; DatasetError for an unknown name."""
  if name not in LOADERS:
    raise common.DatasetError(
      f"--dataset={name} is not one of {', '.join(LOADERS)}"
    )
  return LOADERS[name]


def loader_options(name: str) -> Tuple[str, ...]:
  """The keyword options (besides data_dir) that `name`'s loader accepts."""
  parameters = inspect.signature(get_loader(name)).parameters
  return tuple(p for p in parameters if p != "data_dir")


def load_dataset(name: str, data_dir: str, **options) -> common.DatasetSource:
  """Finds data set `name` in `data_dir`, checking layout and options.

  Args:
    name: a registered name (see `dataset_names`), or "auto" to use the
      layout `detect_layout` finds.
    data_dir: the data dir.
    **options: loader options (e.g. split, test_fraction,
      test_classes_file); those set to None are treated as not given, so a
      CLI can pass every flag through.

  Returns:
    The source, ready to iterate.

  Raises:
    DatasetError: unknown name, an option the loader does not take, or (as
      LayoutError) a data dir that is missing, does not match `name`, or
      (for "auto") matches no layout.
  """
  if name == AUTO:
    name = require_layout(data_dir)
  loader = get_loader(name)
  options = {k: v for k, v in options.items() if v is not None}
  accepted = loader_options(name)
  for option in options:
    if option not in accepted:
      takes = (
        f"it takes {', '.join('--' + o for o in accepted)}"
        if accepted
        else "it takes no options"
      )
      raise common.DatasetError(
        f"--{option} does not apply to --dataset={name} ({takes})"
      )
  try:
    return loader(data_dir, **options)
  except common.LayoutError as e:
    raise common.LayoutError(_with_hint(str(e), name, data_dir)) from None


def _with_hint(message: str, name: str, data_dir: str) -> str:
  """Adds "it looks like --dataset=X" when another layout matches."""
  if not files.isdir(data_dir):
    return message
  detected = detect_layout(data_dir)
  if detected and detected != name:
    return f"{message}; it looks like --dataset={detected}"
  return message


def require_layout(data_dir: str) -> str:
  """Like `detect_layout`, but raises LayoutError when nothing matches."""
  path = common.require_dir(data_dir)
  detected = detect_layout(path)
  if detected is None:
    raise common.LayoutError(
      f"--data_dir={data_dir} matches none of the known layouts: expected "
      f"train/ and test/ {stackgan.FILENAMES} (stackgan), images.txt "
      f"(cub, shapes), {oxford102.IMAGES_DIR}/ and {oxford102.TEXT_DIR}/ "
      f"(oxford102), or images with same-named .txt captions (folder)"
    )
  return detected


def detect_layout(data_dir: str) -> Optional[str]:
  """Guesses which registered layout `data_dir` holds, from cheap checks.

  Args:
    data_dir: a directory.

  Returns:
    A registered name, or None when nothing matches.
  """

  def has(*parts):
    return files.exists(files.join(data_dir, *parts))

  if has("train", stackgan.FILENAMES) and has("test", stackgan.FILENAMES):
    return stackgan.NAME
  # The shapes generator writes attributes.jsonl beside the CUB index files.
  if has("images.txt") and has("attributes.jsonl"):
    return shapes_loader.NAME
  if has("images.txt") or has(cub.CUB_DIR, "images.txt"):
    return cub.NAME
  if has(oxford102.IMAGES_DIR) and (
    has(oxford102.TEXT_DIR) or has(oxford102.REED_DIR, oxford102.TEXT_DIR)
  ):
    return oxford102.NAME
  if _has_captioned_image(data_dir):
    return folder.NAME
  return None


def _has_captioned_image(data_dir: str) -> bool:
  """Whether a few directory entries include an image with a .txt beside it."""
  seen = 0
  for dirpath, dirnames, filenames in files.walk(data_dir):
    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    names = set(filenames)
    for name in filenames:
      stem, ext = os.path.splitext(name)
      if ext.lower() in folder.IMAGE_EXTENSIONS and stem + ".txt" in names:
        return True
    seen += len(filenames) + len(dirnames)
    if seen > _FOLDER_PROBE_LIMIT:
      return False
  return False
