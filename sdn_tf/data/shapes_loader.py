"""Loader for the built-in captioned shapes data set (docs/SHAPES.md).

The generator (`sdn_tf.data.shapes`) writes the CUB layout, so this module
points the CUB reader at it: `images.txt`, `image_class_labels.txt`,
`classes.txt`, `train_test_split.txt`, `images/<class_dir>/<name>.png` and
`text_c10/<class_dir>/<name>.txt`, all directly inside the data dir. The
split is always the generator's `train_test_split.txt`; there are no boxes.
Each record also carries its image's attributes from `attributes.jsonl`
(shape, colour, size, position, background), as indices into
`shapes.ATTRIBUTE_VALUES`.
"""

import dataclasses
import json
import os
from typing import Dict
from typing import Iterator
from typing import Tuple

from sdn_tf.data import cub
from sdn_tf.data import loader_common as common
from sdn_tf.data import shapes
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.utils import files

NAME = "shapes"
ATTRIBUTES_FILE = "attributes.jsonl"
# An image's attribute indices and its paraphrase captions.
_Annotations = Tuple[Tuple[int, ...], Tuple[str, ...]]


def read_attributes(root: str) -> Dict[str, "_Annotations"]:
  """{example id: (attribute indices, paraphrases)} from
  `root`/attributes.jsonl."""
  path = files.join(root, ATTRIBUTES_FILE)
  if not files.isfile(path):
    raise common.LayoutError(f"{path}: missing (regenerate the shapes data)")
  table = {}
  lines = common.read_lines(path, errors="strict")
  for line_number, line in enumerate(lines, start=1):
    try:
      row = json.loads(line)
      indices = tuple(
        values.index(row[name])
        for name, values in shapes.ATTRIBUTE_VALUES.items()
      )
      table[os.path.splitext(row["path"])[0]] = (
        indices,
        tuple(row.get("paraphrases", ())),
      )
    except (ValueError, KeyError) as e:
      raise common.LayoutError(
        f"{path}:{line_number}: not a shapes attribute record ({e})"
      ) from e
  return table


def _with_attributes(
  items: Iterator[common.Item], table: Dict[str, "_Annotations"]
) -> Iterator[common.Item]:
  for item in items:
    if isinstance(item, CaptionedImage):
      if item.example_id not in table:
        yield common.DataIssue(
          common.MISSING_ATTRIBUTES, item.image_path or item.example_id
        )
        continue
      attributes, paraphrases = table[item.example_id]
      item = dataclasses.replace(
        item, attributes=attributes, paraphrases=paraphrases
      )
    yield item


def load_shapes(data_dir: str) -> common.DatasetSource:
  """Finds a generated shapes data set in `data_dir` and describes it.

  Args:
    data_dir: the folder the shapes generator wrote.

  Returns:
    The source (official split, no boxes, attributes).

  Raises:
    LayoutError: the dir or one of the index files is missing or malformed.
  """
  data_dir = common.require_dir(data_dir)
  # nested_dir=None: the generator never nests its output, and accepting a
  # CUB_200_2011/ here would hide a wrong --dataset flag.
  layout = cub.find_layout(
    data_dir, description="the shapes data set", nested_dir=None
  )
  tables = cub.read_tables(
    layout.root, with_official_split=True, with_boxes=False
  )
  attributes = read_attributes(layout.root)
  return common.DatasetSource(
    name=NAME,
    data_dir=data_dir,
    class_names=tuple(tables.class_dirs[c] for c in tables.class_ids()),
    split_rule="official: train_test_split.txt",
    num_images=len(tables.image_paths),
    make_items=lambda: _with_attributes(
      cub.iter_items(layout, tables, class_split=None), attributes
    ),
    options={"split": cub.OFFICIAL},
    attributes=dict(shapes.ATTRIBUTE_VALUES),
  )
