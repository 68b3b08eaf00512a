"""The one record type every data set loader yields.

Each on-disk layout (CUB, Oxford-102, StackGAN pickles, a plain folder, the
built-in shapes) has its own loader module, and all of them yield
`CaptionedImage`s, so conversion to TFRecords and everything after it is
layout-agnostic.
"""

import dataclasses
from typing import Optional
from typing import Tuple

import numpy as np

from sdn_tf.utils import files


@dataclasses.dataclass(frozen=True)
class CaptionedImage:
  """One image with its captions.

  Attributes:
    example_id: a stable identifier, unique within the data set (e.g. the
      image's path relative to the data set root, without extension).
    captions: the image's captions (CUB/Oxford have ten).
    label: class index, starting at 0.
    class_name: human-readable class name (e.g. "007.red_triangle").
    split: "train" or "test" (the converter moves some training images to
      "validation").
    image_path: path of the encoded image file, or None when `image_bytes`
      holds the bytes.
    image_bytes: the encoded image (JPEG/PNG), or None when `image_path` is
      set.
    box: optional object box (x, y, w, h) in pixels of the original image.
    embeddings: optional precomputed caption embeddings, float32
      [num_captions, dim] (StackGAN's char-CNN-RNN pickles).
    attributes: optional per-image attribute values, as indices into the
      source's `attributes` tables, in their order.
    paraphrases: captions of templates training never sees, for evaluation
      only (the built-in shapes' test images have them).
  """

  example_id: str
  captions: Tuple[str, ...]
  label: int
  class_name: str
  split: str
  image_path: Optional[str] = None
  image_bytes: Optional[bytes] = None
  box: Optional[Tuple[float, float, float, float]] = None
  embeddings: Optional[np.ndarray] = None
  attributes: Optional[Tuple[int, ...]] = None
  paraphrases: Tuple[str, ...] = ()

  def read_image_bytes(self) -> bytes:
    """Returns the encoded image, reading it from disk if needed."""
    if self.image_bytes is not None:
      return self.image_bytes
    return files.read_bytes(self.image_path)
