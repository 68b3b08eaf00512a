"""Loader for a plain folder of images with a same-named caption file each.

Accepted layout (the habit of current text-to-image fine-tuning tools):

    <data_dir>/[<class>/...]<name>.<jpg|jpeg|png|webp|bmp>
    <data_dir>/[<class>/...]<name>.txt      one caption per non-empty line

The folder is searched recursively; hidden files and folders (".name") are
ignored. The class of an image is its top-level subfolder (classes sorted by
name and numbered from 0); images directly in the data dir form one more
class, named after the data dir, which sorts first. A flat folder is thus one
class with label 0. The example id is the image's path relative to the data
dir, extension included, so that `a.jpg` and `a.png` stay distinct.

Split: an image is test when the first 8 bytes of SHA-256 of its relative
path ("/"-separated, as a big-endian integer) divided by 2**64 is below
`test_fraction`. The rule depends on nothing but the path, so adding images
never moves existing ones between splits.
"""

import os
from typing import Iterator
from typing import List
from typing import Tuple

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.utils import files

NAME = "folder"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
DEFAULT_TEST_FRACTION = 0.1


def is_test(relpath: str, test_fraction: float) -> bool:
  """The split rule of the module doc for one relative path."""
  return common.hash_fraction(relpath) < test_fraction


def find_images(data_dir: str) -> List[str]:
  """Relative paths ("/"-separated) of the images under `data_dir`, sorted."""
  found = []
  prefix = data_dir.rstrip("/")
  for dirpath, dirnames, filenames in files.walk(data_dir):
    # Pruning in place stops the walk from entering hidden folders
    # (.ipynb_checkpoints, .git, ...).
    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    # Cut, not os.path.relpath: that would mangle a URL's "//".
    folder = dirpath[len(prefix) :].replace(os.sep, "/").strip("/")
    for name in filenames:
      if (
        not name.startswith(".")
        and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
      ):
        found.append(f"{folder}/{name}" if folder else name)
  return sorted(found)


def class_key(relpath: str) -> str:
  """The top-level folder of a relative path, "" for the data dir itself."""
  return relpath.split("/", 1)[0] if "/" in relpath else ""


def _iter_items(
  data_dir: str,
  relpaths: List[str],
  classes: List[str],
  class_names: Tuple[str, ...],
  test_fraction: float,
) -> Iterator[common.Item]:
  labels = {key: i for i, key in enumerate(classes)}
  for relpath in relpaths:
    label = labels[class_key(relpath)]
    image_path = files.join(data_dir, *relpath.split("/"))
    split = common.TEST if is_test(relpath, test_fraction) else common.TRAIN

    def make_record(
      captions, relpath=relpath, label=label, split=split, image_path=image_path
    ):
      return CaptionedImage(
        example_id=relpath,
        captions=captions,
        label=label,
        class_name=class_names[label],
        split=split,
        image_path=image_path,
      )

    yield from common.captioned_items(
      os.path.splitext(image_path)[0] + ".txt", make_record
    )


def load_folder(
  data_dir: str, test_fraction: float = DEFAULT_TEST_FRACTION
) -> common.DatasetSource:
  """Finds the captioned images under `data_dir` and describes them.

  Args:
    data_dir: the folder to search recursively.
    test_fraction: expected fraction of images in the test split, in [0, 1].

  Returns:
    The source.

  Raises:
    LayoutError: the dir is missing or holds no images.
    DatasetError: `test_fraction` is outside [0, 1].
  """
  if not 0.0 <= test_fraction <= 1.0:
    raise common.DatasetError(
      f"--test_fraction={test_fraction} must be between 0 and 1"
    )
  data_dir = common.require_dir(data_dir)
  relpaths = find_images(data_dir)
  if not relpaths:
    raise common.LayoutError(
      f"--data_dir={data_dir} does not look like a folder of captioned "
      f"images: expected image files ({', '.join(IMAGE_EXTENSIONS)}) with "
      f"a same-named .txt caption file each"
    )
  classes = sorted({class_key(p) for p in relpaths})
  root_name = os.path.basename(os.path.normpath(data_dir)) or "images"
  class_names = tuple(key or root_name for key in classes)
  return common.DatasetSource(
    name=NAME,
    data_dir=data_dir,
    class_names=class_names,
    split_rule=(
      f"hash of the relative path: sha256[:8] / 2**64 < {test_fraction} is test"
    ),
    num_images=len(relpaths),
    make_items=lambda: _iter_items(
      data_dir, relpaths, classes, class_names, test_fraction
    ),
    options={"test_fraction": test_fraction},
  )
