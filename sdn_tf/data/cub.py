"""Loader for CUB-200-2011 with Reed et al.'s captions (and any CUB layout).

Accepted layout (the data dir is either the folder holding `CUB_200_2011/`
or the `CUB_200_2011/` folder itself):

    <data_dir>/CUB_200_2011/
      images.txt              "<image_id> <class_dir>/<name>.jpg"
      image_class_labels.txt  "<image_id> <class_id, from 1>"
      classes.txt             "<class_id> <class_dir>"
      train_test_split.txt    "<image_id> <1 = train, 0 = test>"
      bounding_boxes.txt      "<image_id> <x> <y> <w> <h>" (optional)
      images/<class_dir>/<name>.jpg
    text_c10/<class_dir>/<name>.txt   ten captions, one per line; inside
                                      CUB_200_2011/, beside it, or in
                                      cvpr2016_cub/ beside it (Reed's archive)

Splits (`split=`):
  * "class_disjoint" (default), the text-to-image split: the classes named
    by `test_classes_file` are test and all others train. Without that
    option, Reed's class lists are used when found in the data dir, in
    `CUB_200_2011/` or beside `text_c10/` (as in his `cvpr2016_cub`
    archive): `testclasses.txt` (listed = test), else `trainvalclasses.txt`
    (listed = train). Without any list, classes with `classes.txt` id 1-150
    are train and ids 151-200 are test.
  * "official": `train_test_split.txt` (images of every class in both).

The same reader serves the built-in shapes data set (`shapes_loader`), which
has `text_c10/` inside the root and no bounding boxes.
"""

import dataclasses
import math
import os
from typing import Dict
from typing import Iterator
from typing import List
from typing import Optional
from typing import Tuple

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.utils import files

NAME = "cub"
CUB_DIR = "CUB_200_2011"
TEXT_DIR = "text_c10"
# Reed et al.'s caption archive unpacks to this folder.
REED_DIR = "cvpr2016_cub"

CLASS_DISJOINT = "class_disjoint"
OFFICIAL = "official"
SPLIT_RULES = (CLASS_DISJOINT, OFFICIAL)
# Classes with ids up to this one are train in the default class-disjoint
# split (150 train+val classes, 50 test classes).
LAST_TRAIN_CLASS_ID = 150

Box = Tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class CubLayout:
  """Where the parts of a CUB-layout data set were found."""

  root: str  # the folder holding images.txt
  images_dir: str
  text_dir: str


@dataclasses.dataclass(frozen=True)
class CubTables:
  """The index files of a CUB-layout data set, parsed.

  Attributes:
    image_paths: image id -> image path relative to `images/`.
    image_classes: image id -> class id (as in classes.txt).
    class_dirs: class id -> class folder name, e.g.
      "001.Black_footed_Albatross".
    is_train: image id -> train_test_split.txt flag, or None if not read.
    boxes: image id -> (x, y, w, h), or None if not read.
  """

  image_paths: Dict[int, str]
  image_classes: Dict[int, int]
  class_dirs: Dict[int, str]
  is_train: Optional[Dict[int, bool]] = None
  boxes: Optional[Dict[int, Box]] = None

  def class_ids(self) -> List[int]:
    """Class ids in label order (label = position in this list)."""
    return sorted(self.class_dirs)


def find_layout(
  data_dir: str,
  description: str = "CUB-200-2011",
  nested_dir: Optional[str] = CUB_DIR,
) -> CubLayout:
  """Finds the CUB-layout folders under `data_dir`.

  Args:
    data_dir: the data dir the user gave.
    description: the data set's name, for error messages.
    nested_dir: a folder name that may hold the layout inside `data_dir`.

  Returns:
    The layout.

  Raises:
    LayoutError: the dir is missing, or no images.txt + images/ or no
      text_c10/ was found.
  """
  data_dir = common.require_dir(data_dir)
  candidates = [data_dir]
  if nested_dir:
    candidates.append(files.join(data_dir, nested_dir))
  root = common.first_existing(candidates, _has_cub_index)
  if root is None:
    nested = f" (or {nested_dir}/images.txt)" if nested_dir else ""
    raise common.LayoutError(
      f"--data_dir={data_dir} does not look like {description}: expected "
      f"images.txt and images/{nested}"
    )
  text_dir = common.first_existing(
    _text_dir_candidates(data_dir, root), files.isdir
  )
  if text_dir is None:
    raise common.LayoutError(
      f"--data_dir={data_dir}: found {description} at {root} but no "
      f"captions: expected {TEXT_DIR}/ inside it or beside it"
    )
  return CubLayout(
    root=root, images_dir=files.join(root, "images"), text_dir=text_dir
  )


def _has_cub_index(path: str) -> bool:
  return files.isfile(files.join(path, "images.txt")) and files.isdir(
    files.join(path, "images")
  )


def _text_dir_candidates(data_dir: str, root: str) -> List[str]:
  """Where Reed's captions may sit relative to the CUB folder."""
  parents = [root, data_dir, files.split(root)[0]]
  dirs = []
  for parent in parents:
    dirs.append(files.join(parent, TEXT_DIR))
    dirs.append(files.join(parent, REED_DIR, TEXT_DIR))
  return list(dict.fromkeys(dirs))


def _require_every_id(
  image_paths, table, root: str, filename: str, what: str
) -> None:
  """Raises LayoutError naming `filename` if it lacks an image id."""
  missing = sorted(set(image_paths) - set(table))
  if missing:
    raise common.LayoutError(
      f"{files.join(root, filename)} has {what} for image id "
      f"{missing[0]} (and {len(missing) - 1} more)"
    )


def read_tables(
  root: str, with_official_split: bool, with_boxes: bool
) -> CubTables:
  """Parses the index files of a CUB-layout data set.

  Args:
    root: the folder holding images.txt.
    with_official_split: read train_test_split.txt (required then).
    with_boxes: read bounding_boxes.txt if it exists.

  Returns:
    The parsed tables.

  Raises:
    LayoutError: a required file is missing or malformed.
  """
  image_paths = _read_table(root, "images.txt", str)
  image_classes = _read_table(root, "image_class_labels.txt", int)
  class_dirs = {
    int(k): v for k, v in _read_table(root, "classes.txt", str).items()
  }
  _require_every_id(
    image_paths, image_classes, root, "image_class_labels.txt", "no class"
  )
  unknown = sorted(set(image_classes.values()) - set(class_dirs))
  if unknown:
    raise common.LayoutError(
      f"{files.join(root, 'image_class_labels.txt')} uses class id "
      f"{unknown[0]}, which classes.txt does not list"
    )
  is_train = None
  if with_official_split:
    is_train = {
      k: bool(v)
      for k, v in _read_table(root, "train_test_split.txt", int).items()
    }
    _require_every_id(
      image_paths, is_train, root, "train_test_split.txt", "no entry"
    )
  boxes = None
  if with_boxes and files.isfile(files.join(root, "bounding_boxes.txt")):
    boxes = _read_table(root, "bounding_boxes.txt", _parse_box)
  return CubTables(image_paths, image_classes, class_dirs, is_train, boxes)


def read_boxes_by_path(root: str) -> Dict[str, Box]:
  """Maps "<class_dir>/<name>" (no extension) to its bounding box.

  For readers that know images by path rather than by id (StackGAN's
  pickles); empty when bounding_boxes.txt or images.txt is missing.
  """
  if not all(
    files.isfile(files.join(root, name))
    for name in ("images.txt", "bounding_boxes.txt")
  ):
    return {}
  paths = _read_table(root, "images.txt", str)
  boxes = _read_table(root, "bounding_boxes.txt", _parse_box)
  return {
    os.path.splitext(path)[0]: boxes[image_id]
    for image_id, path in paths.items()
    if image_id in boxes
  }


def _parse_box(text: str) -> Box:
  x, y, w, h = (float(v) for v in text.split())
  return (x, y, w, h)


def _read_table(root: str, name: str, parse) -> Dict[int, object]:
  """Reads "<integer id> <value>" lines into {id: parse(value)}."""
  path = files.join(root, name)
  if not files.isfile(path):
    raise common.LayoutError(f"{path} is missing")
  table = {}
  for line_number, line in enumerate(common.read_lines(path), start=1):
    if not line.strip():
      continue
    try:
      key, value = line.strip().split(maxsplit=1)
      table[int(key)] = parse(value)
    except ValueError:
      raise common.LayoutError(
        f"{path} line {line_number} is malformed: {line.strip()!r}"
      ) from None
  return table


def class_disjoint_splits(
  tables: CubTables, class_list: Optional[Tuple[str, str]]
) -> Tuple[Dict[int, str], str]:
  """Assigns each class id to a split for the class-disjoint rule.

  Args:
    tables: the parsed index files.
    class_list: (file, split of the classes it names), or None for the
      default rule.

  Returns:
    ({class_id: split}, a sentence describing the rule used).
  """
  if class_list:
    path, listed_split = class_list
    dir_to_id = {name: class_id for class_id, name in tables.class_dirs.items()}
    splits = common.split_by_class_list(
      list(dir_to_id), common.read_class_list(path), listed_split, path
    )
    rule = f"class-disjoint: {listed_split} classes listed in {path}"
    return {dir_to_id[name]: s for name, s in splits.items()}, rule
  splits = {
    class_id: common.TRAIN if class_id <= LAST_TRAIN_CLASS_ID else common.TEST
    for class_id in tables.class_dirs
  }
  rule = (
    f"class-disjoint: classes.txt ids 1-{LAST_TRAIN_CLASS_ID} train, "
    f"ids above test"
  )
  return splits, rule


def iter_items(
  layout: CubLayout, tables: CubTables, class_split: Optional[Dict[int, str]]
) -> Iterator[common.Item]:
  """Yields the records (and caption issues) of a CUB-layout data set.

  Args:
    layout: where the folders are.
    tables: the parsed index files.
    class_split: {class_id: split} for a class-disjoint split, or None to
      use `tables.is_train` (the official split).
  """
  labels = {class_id: i for i, class_id in enumerate(tables.class_ids())}
  for image_id in sorted(tables.image_paths):
    relpath = tables.image_paths[image_id]
    class_id = tables.image_classes[image_id]
    if class_split is not None:
      split = class_split[class_id]
    else:
      split = common.TRAIN if tables.is_train[image_id] else common.TEST
    example_id = os.path.splitext(relpath)[0]
    box = tables.boxes.get(image_id) if tables.boxes is not None else None

    def make_record(
      captions,
      relpath=relpath,
      class_id=class_id,
      split=split,
      example_id=example_id,
      box=box,
    ):
      return CaptionedImage(
        example_id=example_id,
        captions=captions,
        label=labels[class_id],
        class_name=tables.class_dirs[class_id],
        split=split,
        image_path=files.join(layout.images_dir, relpath),
        box=box,
      )

    caption_path = files.join(layout.text_dir, example_id + ".txt")
    yield from common.captioned_items(caption_path, make_record)


def load_cub(
  data_dir: str,
  split: str = CLASS_DISJOINT,
  test_classes_file: Optional[str] = None,
) -> common.DatasetSource:
  """Finds CUB-200-2011 under `data_dir` and describes its examples.

  Args:
    data_dir: the folder holding `CUB_200_2011/` (and `text_c10/`), or the
      `CUB_200_2011/` folder itself.
    split: "class_disjoint" (default) or "official"; see the module doc.
    test_classes_file: for "class_disjoint", a file naming the test classes
      (one class folder name a line, as Reed's `testclasses.txt`).

  Returns:
    The source; its records carry the bounding box when bounding_boxes.txt
    exists.

  Raises:
    LayoutError: the data dir or a required file is missing or malformed.
    DatasetError: an unknown split or an option that does not apply.
  """
  if split not in SPLIT_RULES:
    raise common.DatasetError(
      f"--split={split} is not one of {', '.join(SPLIT_RULES)}"
    )
  if split == OFFICIAL and test_classes_file:
    raise common.DatasetError(
      "--test_classes_file only applies to --split=class_disjoint"
    )
  data_dir = common.require_dir(data_dir)
  layout = find_layout(data_dir)
  tables = read_tables(
    layout.root, with_official_split=split == OFFICIAL, with_boxes=True
  )
  class_split, rule = None, "official: train_test_split.txt"
  class_list = None
  if split == CLASS_DISJOINT:
    reed_dirs = [data_dir, layout.root, files.split(layout.text_dir)[0]]
    class_list = (
      (test_classes_file, common.TEST)
      if test_classes_file
      else common.find_class_list(reed_dirs)
    )
    class_split, rule = class_disjoint_splits(tables, class_list)
  return common.DatasetSource(
    name=NAME,
    data_dir=data_dir,
    class_names=tuple(tables.class_dirs[c] for c in tables.class_ids()),
    split_rule=rule,
    num_images=len(tables.image_paths),
    make_items=lambda: iter_items(layout, tables, class_split),
    options={
      "split": split,
      "class_list": class_list[0] if class_list else None,
    },
  )


def cub_crop_box(
  box: Box, image_w: int, image_h: int
) -> Tuple[int, int, int, int]:
  """The common CUB crop: a square around the box, clipped to the image.

  The square is centred on the box centre with half-side 0.75 * max(w, h),
  rounded down as in StackGAN's preprocessing (`R = int(0.75 * max(w, h))`,
  centre `int(x + w / 2)`; floor rather than int, which only differs for
  boxes reaching past the top or left edge) and exactly as the input
  pipeline's `crop_to_cub_box`. Clipping can make the crop non-square near
  the image border.

  Args:
    box: (x, y, w, h) in pixels.
    image_w: image width in pixels.
    image_h: image height in pixels.

  Returns:
    (x0, y0, x1, y1): pixel bounds, x1 and y1 exclusive, with
    0 <= x0 < x1 <= image_w and 0 <= y0 < y1 <= image_h; the whole image
    when the box yields an empty crop.
  """
  x, y, w, h = box
  half = math.floor(0.75 * max(w, h))
  centre_x = math.floor(x + w / 2)
  centre_y = math.floor(y + h / 2)
  x0 = max(0, centre_x - half)
  y0 = max(0, centre_y - half)
  x1 = min(image_w, centre_x + half)
  y1 = min(image_h, centre_y + half)
  if x1 <= x0 or y1 <= y0:
    # A degenerate box (zero size, or outside the image) keeps the whole
    # image, as the input pipeline's crop_to_cub_box does.
    return 0, 0, image_w, image_h
  return x0, y0, x1, y1
