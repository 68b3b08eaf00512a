"""Loader for StackGAN's preprocessed birds/flowers (pickles + images).

Accepted layout (StackGAN's `Data/birds` or `Data/flowers`; the data dir is
the `birds/` or `flowers/` folder):

    <data_dir>/{train,test}/filenames.pickle     list of names, no extension
    <data_dir>/{train,test}/class_info.pickle    class id per image
    <data_dir>/{train,test}/char-CNN-RNN-embeddings.pickle
                                                 N x 10 x 1024 (optional)
    images, the first rule that finds the first names:
      <data_dir>/CUB_200_2011/images/<name>.jpg  birds
      <data_dir>/images/<name>.jpg
      <data_dir>/<name>.jpg                      flowers ("jpg/image_00001")
      <data_dir>/jpg/<basename>.jpg
    captions, one per line, in text_c10/ (else text/, AttnGAN's layout):
      <text>/<name>.txt                          birds, AttnGAN
      <text>/class_<class id:05d>/<basename>.txt flowers

The pickles are Python 2 pickles, read with `encoding="latin1"`; like any
pickle they can run code, so only load files from a source you trust.
The split is StackGAN's (train/ and test/). Labels are the class ids of both
splits, sorted and numbered from 0; class names are the images' folder names
when those match the classes one to one (birds), else "class_<id:05d>".
Birds get their bounding box when `CUB_200_2011/bounding_boxes.txt` exists.
Caption i is paired with embedding row i; when a caption file has more or
fewer lines than the image has embeddings, the common prefix is kept and a
warning counted.
"""

import dataclasses
import io
import os
import pickle
from typing import Callable
from typing import Dict
from typing import Iterator
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

from sdn_tf.data import cub
from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.utils import files

NAME = "stackgan"
FILENAMES = "filenames.pickle"
CLASS_INFO = "class_info.pickle"
EMBEDDINGS = "char-CNN-RNN-embeddings.pickle"
TEXT_DIRS = ("text_c10", "text")
# How many leading names are tried when looking for the images folder.
_PROBE_NAMES = 20

_IMAGE_RULES: Tuple[Tuple[str, Callable[[str, str], str]], ...] = (
  (
    "CUB_200_2011/images/<name>.jpg",
    lambda root, name: files.join(root, cub.CUB_DIR, "images", name + ".jpg"),
  ),
  (
    "images/<name>.jpg",
    lambda root, name: files.join(root, "images", name + ".jpg"),
  ),
  ("<name>.jpg", lambda root, name: files.join(root, name + ".jpg")),
  (
    "jpg/<basename>.jpg",
    lambda root, name: files.join(root, "jpg", os.path.basename(name) + ".jpg"),
  ),
)


@dataclasses.dataclass(frozen=True)
class SplitPickles:
  """One split's pickles, checked for consistent lengths."""

  split: str
  filenames: List[str]
  class_ids: List[int]
  embeddings: Optional[np.ndarray]  # float32 [N, num_captions, dim]


def _load_pickle(path: str):
  """Loads a Python 2 pickle; LayoutError if it cannot be read."""
  try:
    data = files.read_bytes(path)
    # Python 2 str objects are bytes; latin1 maps them 1:1 to code points,
    # which is also how numpy arrays pickled by Python 2 must be read.
    return pickle.load(io.BytesIO(data), encoding="latin1")
  except FileNotFoundError:
    raise common.LayoutError(f"{path} is missing") from None
  except (
    OSError,
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
  ) as e:
    raise common.LayoutError(f"cannot read {path}: {e}") from None


def _as_name(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _read_split(data_dir: str, split: str) -> SplitPickles:
  """Reads and checks one split's pickles."""
  split_dir = files.join(data_dir, split)
  filenames = [
    _as_name(v) for v in _load_pickle(files.join(split_dir, FILENAMES))
  ]
  class_path = files.join(split_dir, CLASS_INFO)
  try:
    class_ids = [int(v) for v in np.asarray(_load_pickle(class_path)).ravel()]
  except (TypeError, ValueError):
    raise common.LayoutError(f"{class_path} does not hold class ids") from None
  _check_length(class_path, len(class_ids), len(filenames))
  embeddings = None
  embeddings_path = files.join(split_dir, EMBEDDINGS)
  if files.isfile(embeddings_path):
    embeddings = _as_embeddings(_load_pickle(embeddings_path), embeddings_path)
    _check_length(embeddings_path, len(embeddings), len(filenames))
  return SplitPickles(split, filenames, class_ids, embeddings)


def _as_embeddings(value, path: str) -> np.ndarray:
  """As float32 [N, num_captions, dim]; [N, dim] becomes [N, 1, dim]."""
  try:
    array = np.asarray(value, dtype=np.float32)
  except (TypeError, ValueError):
    raise common.LayoutError(
      f"{path} does not hold an N x 10 x dim array of floats"
    ) from None
  if array.ndim == 2:
    array = array[:, None, :]
  if array.ndim != 3:
    raise common.LayoutError(
      f"{path} holds an array of shape {array.shape}; "
      f"expected N x num_captions x dim"
    )
  return array


def _check_length(path: str, length: int, expected: int) -> None:
  if length != expected:
    raise common.LayoutError(
      f"{path} has {length} entries but {FILENAMES} beside it has {expected}"
    )


def _check_layout(data_dir: str) -> None:
  """Raises LayoutError unless both splits' filenames.pickle exist."""
  if not all(
    files.isfile(files.join(data_dir, s, FILENAMES))
    for s in common.SOURCE_SPLITS
  ):
    raise common.LayoutError(
      f"--data_dir={data_dir} does not look like StackGAN's preprocessed "
      f"data: expected train/{FILENAMES} and test/{FILENAMES} (the birds/ "
      f"or flowers/ folder)"
    )


def _find_image_rule(
  data_dir: str, names: Sequence[str]
) -> Callable[[str, str], str]:
  """The first image rule under which one of the leading names exists."""
  probe = list(names[:_PROBE_NAMES])
  for _, rule in _IMAGE_RULES:
    if any(files.isfile(rule(data_dir, name)) for name in probe):
      return rule
  example = probe[0] if probe else "<name>"
  expected = ", ".join(d for d, _ in _IMAGE_RULES)
  raise common.LayoutError(
    f"--data_dir={data_dir}: no image found for {example!r} (from "
    f"{FILENAMES}): expected one of {expected} under the data dir"
  )


def _find_text_dir(data_dir: str) -> str:
  text_dir = common.first_existing(
    (files.join(data_dir, d) for d in TEXT_DIRS), files.isdir
  )
  if text_dir is None:
    raise common.LayoutError(
      f"--data_dir={data_dir}: no captions: expected {TEXT_DIRS[0]}/ or "
      f"{TEXT_DIRS[1]}/ with one <name>.txt per image"
    )
  return text_dir


def caption_path(text_dir: str, name: str, class_id: int) -> str:
  """The caption file of `name`, by birds' rule or else flowers' rule."""
  direct = files.join(text_dir, name + ".txt")
  by_class = files.join(
    text_dir, f"class_{class_id:05d}", os.path.basename(name) + ".txt"
  )
  return common.first_existing([direct, by_class], files.isfile) or direct


def _class_names(
  splits: Sequence[SplitPickles], class_ids: List[int]
) -> List[str]:
  """Folder names when they match the classes one to one, else class_NNNNN."""
  dirs: Dict[int, set] = {c: set() for c in class_ids}
  for pickles in splits:
    for name, class_id in zip(pickles.filenames, pickles.class_ids):
      dirs[class_id].add(os.path.dirname(name))
  names = [next(iter(dirs[c])) if len(dirs[c]) == 1 else "" for c in class_ids]
  if all(names) and len(set(names)) == len(names):
    return names
  return [f"class_{c:05d}" for c in class_ids]


def _iter_items(
  splits: Sequence[SplitPickles],
  data_dir: str,
  image_rule: Callable[[str, str], str],
  text_dir: str,
  labels: Dict[int, int],
  class_names: List[str],
  boxes: Dict[str, cub.Box],
) -> Iterator[common.Item]:
  """Yields train then test records, in pickle order."""
  for pickles in splits:
    for i, (name, class_id) in enumerate(
      zip(pickles.filenames, pickles.class_ids)
    ):
      path = caption_path(text_dir, name, class_id)
      captions, issues = common.read_captions(path)
      yield from issues
      if not captions:
        continue
      embeddings = None
      if pickles.embeddings is not None:
        embeddings = pickles.embeddings[i]
        captions, embeddings, issue = _pair(captions, embeddings, path)
        if issue:
          yield issue
      yield CaptionedImage(
        example_id=name,
        captions=captions,
        label=labels[class_id],
        class_name=class_names[labels[class_id]],
        split=pickles.split,
        image_path=image_rule(data_dir, name),
        box=boxes.get(name),
        embeddings=embeddings,
      )


def _pair(captions: Tuple[str, ...], embeddings: np.ndarray, path: str):
  """Keeps caption i with embedding row i, as StackGAN pairs them.

  The embeddings were computed from the caption file's lines in order, and
  the prepared format stores one row per caption, so when the counts differ
  only the common prefix is kept (and reported).

  Returns:
    (captions, embeddings, a warning DataIssue or None).
  """
  if len(captions) == len(embeddings):
    return captions, embeddings, None
  keep = min(len(captions), len(embeddings))
  issue = common.DataIssue(
    common.CAPTION_EMBEDDING_MISMATCH,
    path,
    f"{len(captions)} captions, {len(embeddings)} embeddings; kept the "
    f"first {keep} of each",
    skips_example=False,
  )
  return captions[:keep], embeddings[:keep], issue


def load_stackgan(data_dir: str) -> common.DatasetSource:
  """Reads StackGAN's pickles under `data_dir` and describes the examples.

  Args:
    data_dir: StackGAN's `birds/` or `flowers/` folder; see the module doc.

  Returns:
    The source; records carry the image's embeddings when the embeddings
    pickle exists.

  Raises:
    LayoutError: a pickle is missing, unreadable or inconsistent, or no
      images or captions were found.
  """
  data_dir = common.require_dir(data_dir)
  _check_layout(data_dir)
  splits = [_read_split(data_dir, s) for s in common.SOURCE_SPLITS]
  if len({p.embeddings is None for p in splits}) > 1:
    raise common.LayoutError(
      f"--data_dir={data_dir}: {EMBEDDINGS} exists for one split only"
    )
  dims = {p.embeddings.shape[-1] for p in splits if p.embeddings is not None}
  if len(dims) > 1:
    raise common.LayoutError(
      f"--data_dir={data_dir}: train and test {EMBEDDINGS} differ in size "
      f"({sorted(dims)})"
    )
  image_rule = _find_image_rule(
    data_dir, splits[0].filenames or splits[1].filenames
  )
  text_dir = _find_text_dir(data_dir)
  class_ids = sorted({c for p in splits for c in p.class_ids})
  labels = {c: i for i, c in enumerate(class_ids)}
  class_names = _class_names(splits, class_ids)
  boxes = cub.read_boxes_by_path(files.join(data_dir, cub.CUB_DIR))
  return common.DatasetSource(
    name=NAME,
    data_dir=data_dir,
    class_names=tuple(class_names),
    split_rule="StackGAN's train/ and test/ pickles",
    num_images=sum(len(p.filenames) for p in splits),
    make_items=lambda: _iter_items(
      splits, data_dir, image_rule, text_dir, labels, class_names, boxes
    ),
    options={"embedding_dim": min(dims) if dims else None},
  )
