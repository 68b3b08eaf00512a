"""Loader for Oxford-102 flowers with Reed et al.'s captions.

Accepted layout (StackGAN's `Data/flowers`, or `102flowers.tgz` unpacked
next to Reed's `cvpr2016_flowers` captions):

    <data_dir>/jpg/image_XXXXX.jpg
    <data_dir>/text_c10/class_XXXXX/image_XXXXX.txt     ten captions each
      (or <data_dir>/cvpr2016_flowers/text_c10/...)

The class of an image is the `text_c10/` folder holding its captions (the
flower data set ships its labels only as a MATLAB file); label = position of
the class folder in sorted order, class name = the folder name. An image in
`jpg/` with no caption file anywhere is reported as missing its captions.

Split (class-disjoint, 82 train+val / 20 test classes): the classes named by
`test_classes_file` are test and all others train. Without that option,
Reed's class lists are used when found in the data dir or beside
`text_c10/`: `testclasses.txt` (listed = test), else `trainvalclasses.txt`
(listed = train). Lines may be folder names (`class_00001`) or plain numbers.
Without any list, class_00001 .. class_00082 are train and class_00083 ..
class_00102 (numbers 83 and above) are test.
"""

import os
import re
from typing import Dict
from typing import Iterator
from typing import List
from typing import Optional
from typing import Tuple

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.utils import files

NAME = "oxford102"
IMAGES_DIR = "jpg"
TEXT_DIR = "text_c10"
REED_DIR = "cvpr2016_flowers"
# Class folders numbered above this are test in the default split.
LAST_TRAIN_CLASS_NUMBER = 82

_CLASS_DIR = re.compile(r"^class_(\d+)$")


def class_dir_name(line: str) -> str:
  """Normalises a class list entry: "7" or "class_00007" -> "class_00007"."""
  line = line.strip()
  return f"class_{int(line):05d}" if line.isdigit() else line


def _find_dirs(data_dir: str) -> Tuple[str, str]:
  """Returns (images dir, captions dir) or raises LayoutError."""
  images_dir = files.join(data_dir, IMAGES_DIR)
  text_dir = common.first_existing(
    [
      files.join(data_dir, TEXT_DIR),
      files.join(data_dir, REED_DIR, TEXT_DIR),
    ],
    files.isdir,
  )
  if not files.isdir(images_dir) or text_dir is None:
    raise common.LayoutError(
      f"--data_dir={data_dir} does not look like Oxford-102 flowers: "
      f"expected {IMAGES_DIR}/ and {TEXT_DIR}/class_XXXXX/ (or "
      f"{REED_DIR}/{TEXT_DIR}/)"
    )
  return images_dir, text_dir


def _list_classes(text_dir: str) -> List[str]:
  """The class folders (class_XXXXX) of the captions dir, sorted."""
  classes = sorted(
    name
    for name in files.listdir(text_dir)
    if _CLASS_DIR.match(name) and files.isdir(files.join(text_dir, name))
  )
  if not classes:
    raise common.LayoutError(
      f"{text_dir} holds no class_XXXXX/ caption folders"
    )
  return classes


def _index_captions(text_dir: str, classes: List[str]) -> Dict[str, str]:
  """Maps an image stem (image_XXXXX) to its class folder."""
  index = {}
  for class_dir in classes:
    for name in files.listdir(files.join(text_dir, class_dir)):
      stem, ext = os.path.splitext(name)
      if ext != ".txt":
        continue  # Reed's folders also hold .h5 features.
      if stem in index:
        raise common.LayoutError(
          f"{text_dir}: captions for {stem} appear in both "
          f"{index[stem]}/ and {class_dir}/"
        )
      index[stem] = class_dir
  return index


def _list_images(images_dir: str) -> List[str]:
  """Image stems in the images dir."""
  return [
    os.path.splitext(name)[0]
    for name in files.listdir(images_dir)
    if name.lower().endswith(".jpg")
  ]


def _class_splits(
  classes: List[str], class_list: Optional[Tuple[str, str]]
) -> Tuple[Dict[str, str], str]:
  """({class_dir: split}, a sentence describing the rule used)."""
  if class_list:
    path, listed_split = class_list
    splits = common.split_by_class_list(
      classes,
      common.read_class_list(path),
      listed_split,
      path,
      normalize=class_dir_name,
    )
    return splits, f"class-disjoint: {listed_split} classes listed in {path}"
  splits = {
    name: common.TRAIN
    if int(_CLASS_DIR.match(name).group(1)) <= LAST_TRAIN_CLASS_NUMBER
    else common.TEST
    for name in classes
  }
  rule = (
    f"class-disjoint: class_00001-class_{LAST_TRAIN_CLASS_NUMBER:05d} "
    f"train, higher numbers test"
  )
  return splits, rule


def _iter_items(
  images_dir: str,
  text_dir: str,
  classes: List[str],
  caption_index: Dict[str, str],
  image_stems: List[str],
  splits: Dict[str, str],
) -> Iterator[common.Item]:
  """Yields records in image name order, then issues for uncaptioned ones."""
  labels = {name: i for i, name in enumerate(classes)}
  for stem in sorted(set(caption_index) | set(image_stems)):
    image_path = files.join(images_dir, stem + ".jpg")
    class_dir = caption_index.get(stem)
    if class_dir is None:
      yield common.DataIssue(
        common.MISSING_CAPTION_FILE,
        image_path,
        f"no {TEXT_DIR}/class_*/{stem}.txt",
      )
      continue

    def make_record(
      captions, stem=stem, class_dir=class_dir, image_path=image_path
    ):
      return CaptionedImage(
        example_id=f"{IMAGES_DIR}/{stem}",
        captions=captions,
        label=labels[class_dir],
        class_name=class_dir,
        split=splits[class_dir],
        image_path=image_path,
      )

    yield from common.captioned_items(
      files.join(text_dir, class_dir, stem + ".txt"), make_record
    )


def load_oxford102(
  data_dir: str, test_classes_file: Optional[str] = None
) -> common.DatasetSource:
  """Finds Oxford-102 flowers under `data_dir` and describes its examples.

  Args:
    data_dir: the folder holding `jpg/` and `text_c10/`.
    test_classes_file: a file naming the test classes, one a line; see the
      module doc for the default.

  Returns:
    The source.

  Raises:
    LayoutError: the dir, `jpg/` or the captions are missing, or a class
      list names an unknown class.
  """
  data_dir = common.require_dir(data_dir)
  images_dir, text_dir = _find_dirs(data_dir)
  classes = _list_classes(text_dir)
  caption_index = _index_captions(text_dir, classes)
  image_stems = _list_images(images_dir)
  class_list = (
    (test_classes_file, common.TEST)
    if test_classes_file
    else common.find_class_list([data_dir, files.split(text_dir)[0]])
  )
  splits, rule = _class_splits(classes, class_list)
  return common.DatasetSource(
    name=NAME,
    data_dir=data_dir,
    class_names=tuple(classes),
    split_rule=rule,
    num_images=len(set(caption_index) | set(image_stems)),
    make_items=lambda: _iter_items(
      images_dir, text_dir, classes, caption_index, image_stems, splits
    ),
    options={"class_list": class_list[0] if class_list else None},
  )
