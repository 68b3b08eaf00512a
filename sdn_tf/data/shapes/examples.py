"""One generated example: its class, attributes, image and captions."""

import dataclasses
from typing import Dict
from typing import Tuple

import numpy as np

from sdn_tf.data.shapes.captions import NUM_PARAPHRASES
from sdn_tf.data.shapes.captions import PARAPHRASE_TEMPLATES
from sdn_tf.data.shapes.captions import make_captions
from sdn_tf.data.shapes.render import object_area
from sdn_tf.data.shapes.render import object_centroid
from sdn_tf.data.shapes.render import render_image
from sdn_tf.data.shapes.spec import DEFAULT_IMAGE_SIZE
from sdn_tf.data.shapes.spec import SPLITS
from sdn_tf.data.shapes.spec import ShapeAttributes
from sdn_tf.data.shapes.spec import ShapeClass
from sdn_tf.data.shapes.spec import image_rng
from sdn_tf.data.shapes.spec import sample_attributes
from sdn_tf.data.shapes.spec import split_classes

# ----------------------------------------------------------------------------
# One example.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeExample:
  """One generated image with its captions and metadata."""

  split: str
  index: int
  shape_class: ShapeClass
  attrs: ShapeAttributes
  image: np.ndarray
  captions: Tuple[str, ...]
  template_ids: Tuple[int, ...]
  # Test images only: captions from templates training never sees.
  paraphrases: Tuple[str, ...] = ()

  @property
  def name(self) -> str:
    """File stem, unique within the data set, e.g. "red_circle_train_00012"."""
    return f"{self.shape_class.name}_{self.split}_{self.index:05d}"

  @property
  def rel_stem(self) -> str:
    """ "<class_dir>/<name>", the path below images/ and text_c10/."""
    return f"{self.shape_class.dir_name}/{self.name}"


def example_class(split: str, index: int) -> ShapeClass:
  """Returns the class of image `index` of `split`.

  Classes cycle through the split's classes, so every split is balanced and
  a test split of at least 32 images holds every class.
  """
  classes = split_classes(split)
  return classes[index % len(classes)]


def generate_example(
  seed: int, split: str, index: int, image_size: int = DEFAULT_IMAGE_SIZE
) -> ShapeExample:
  """Generates image `index` of `split`; depends only on the arguments."""
  shape_class = example_class(split, index)
  rng = image_rng(seed, split, index)
  # Attributes and captions first: they then do not depend on image_size.
  attrs = sample_attributes(rng, shape_class.shape, shape_class.colour)
  captions, template_ids = make_captions(attrs, rng)
  image = render_image(attrs, image_size, rng)
  # Every image gets paraphrases (the records writer keeps them only for
  # the validation and test splits, which training never reads), from their
  # own generator, so the captions and pixels above stay as they were
  # before paraphrases existed.
  paraphrases, _ = make_captions(
    attrs,
    np.random.default_rng([seed, SPLITS.index(split), index, 1]),
    NUM_PARAPHRASES,
    PARAPHRASE_TEMPLATES,
  )
  return ShapeExample(
    split,
    index,
    shape_class,
    attrs,
    image,
    tuple(captions),
    tuple(template_ids),
    tuple(paraphrases),
  )


def _round(values, digits: int = 3):
  return [round(float(v), digits) for v in values]


def attributes_record(
  example: ShapeExample, image_id: int, image_size: int
) -> Dict:
  """Returns the attributes.jsonl object of one example (pixel units)."""
  a, r = example.attrs, image_size
  extent = a.extent * r
  cx, cy = a.centre[0] * r, a.centre[1] * r
  return {
    "id": image_id,
    "path": f"{example.rel_stem}.png",
    "split": example.split,
    "class_index": example.shape_class.index,
    "class_dir": example.shape_class.dir_name,
    "held_out": example.shape_class.held_out,
    "shape": a.shape,
    "colour": a.colour,
    "size": a.size,
    "position": a.position,
    "background": a.background,
    "centre": _round((cx, cy)),
    "extent": round(extent, 3),
    "bbox": _round(
      (cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2)
    ),
    "centroid": _round(object_centroid(a.shape, (cx, cy), extent)),
    "area": round(object_area(a.shape, extent), 3),
    "object_rgb": list(a.object_rgb),
    "background_rgb": list(a.background_rgb),
    "caption_templates": list(example.template_ids),
    "paraphrases": list(example.paraphrases),
  }
