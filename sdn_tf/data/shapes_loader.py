"""Loader for the built-in captioned shapes data set (docs/SHAPES.md).

The generator (`sdn_tf.data.shapes`) writes the CUB layout, so this module
only points the CUB reader at it: `images.txt`, `image_class_labels.txt`,
`classes.txt`, `train_test_split.txt`, `images/<class_dir>/<name>.png` and
`text_c10/<class_dir>/<name>.txt`, all directly inside the data dir. The
split is always the generator's `train_test_split.txt`; there are no boxes.
"""

from sdn_tf.data import cub
from sdn_tf.data import loader_common as common

NAME = "shapes"


def load_shapes(data_dir: str) -> common.DatasetSource:
  """Finds a generated shapes data set in `data_dir` and describes it.

  Args:
    data_dir: the folder the shapes generator wrote.

  Returns:
    The source (official split, no boxes).

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
  return common.DatasetSource(
    name=NAME,
    data_dir=data_dir,
    class_names=tuple(tables.class_dirs[c] for c in tables.class_ids()),
    split_rule="official: train_test_split.txt",
    num_images=len(tables.image_paths),
    make_items=lambda: cub.iter_items(layout, tables, class_split=None),
    options={"split": cub.OFFICIAL},
  )
