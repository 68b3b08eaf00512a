"""Judges drawn shapes images against their captions, by measurement.

The built-in data set is simple enough to judge exactly without a learnt
evaluator: one object on a plain background (docs/SHAPES.md). From an image
this module measures

  * background - the nearest background colour to the median border pixel;
  * the object mask - pixels far from that background colour;
  * colour - the nearest palette colour to the mask's most saturated half;
  * position - the nearest nominal centre to the centre of the mask's box;
  * size - small or large by the mask's area.

A caption is parsed back into the attributes it names (a caption need not
name size, position or background; those are then free and not scored).
Shape is not judged: colour, position and size are what the main job's
quality goal names, and a blurred shape cannot be told apart reliably.

On real images of the data set every judged attribute is right (tests
assert it), so the numbers for generated images are the model's own.
"""

import collections
import dataclasses
import re
from typing import Dict
from typing import Iterable
from typing import Mapping
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np

from sdn_tf.data import shapes

ATTRIBUTES = ("background", "colour", "position", "size")
# What the main job's quality goal names: the object's attributes.
OBJECT_ATTRIBUTES = ("colour", "position", "size")

# A pixel belongs to the object when one of its channels is this far from
# the background colour. The closest object/background pair (green on gray)
# differ by 70 in their farthest channel; noise and jitter add at most ~25.
MASK_THRESHOLD = 35
# Below this fraction of the image the mask is noise, not an object.
MIN_OBJECT_FRACTION = 0.01
# Small objects cover at most ~0.073 R^2 (a square at the top of its
# jitter), large ones at least ~0.105 R^2 (a triangle at the bottom of it).
LARGE_AREA_FRACTION = 0.088


@dataclasses.dataclass(frozen=True)
class Judgement:
  """What one image shows. Object attributes are None when none is seen."""

  background: str
  colour: Optional[str]
  position: Optional[str]
  size: Optional[str]

  def get(self, attribute: str) -> Optional[str]:
    return getattr(self, attribute)


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern:
  # Longest first, so "on the left side" wins over "on the left".
  alternatives = sorted(phrases, key=len, reverse=True)
  return re.compile(r"\b(" + "|".join(map(re.escape, alternatives)) + r")\b")


def _value_patterns(table: Mapping[str, Sequence[str]]):
  return {value: _phrase_pattern(phrases) for value, phrases in table.items()}


_NAMED_PATTERNS = {
  "colour": _value_patterns({c: (c,) for c in shapes.COLOURS}),
  "size": _value_patterns(shapes.SIZE_PHRASES),
  "position": _value_patterns(shapes.POSITION_PHRASES),
  "background": _value_patterns(
    {
      bg: tuple(
        f"{w} {noun}" for w in words for noun in ("background", "backdrop")
      )
      for bg, words in shapes.BACKGROUND_WORDS.items()
    }
  ),
}


def parse_caption(caption: str) -> Dict[str, str]:
  """The attributes a caption names: {attribute: value}, judged ones only.

  An attribute is left out when the caption names none of its values, or
  more than one (then it is ambiguous, and not scored).
  """
  text = caption.lower()
  named = {}
  for attribute, patterns in _NAMED_PATTERNS.items():
    values = [v for v, pattern in patterns.items() if pattern.search(text)]
    if len(values) == 1:
      named[attribute] = values[0]
  return named


def _nearest(rgb: np.ndarray, table: Mapping[str, Sequence[int]]) -> str:
  names = list(table)
  colours = np.asarray([table[n] for n in names], np.float32)
  return names[int(np.argmin(np.sum((colours - rgb) ** 2, axis=1)))]


def _border_pixels(image: np.ndarray) -> np.ndarray:
  return np.concatenate(
    [image[0], image[-1], image[1:-1, 0], image[1:-1, -1]]
  ).astype(np.float32)


def judge_image(image: np.ndarray) -> Judgement:
  """Measures background, colour, position and size of a uint8 [R, R, 3]."""
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3:
    raise ValueError(f"expected a square RGB image, got shape {image.shape}")
  size = image.shape[0]
  # Objects cover at most a quarter of the border, so its median is the
  # background.
  background_rgb = np.median(_border_pixels(image), axis=0)
  background = _nearest(background_rgb, shapes.BACKGROUNDS)
  pixels = image.astype(np.float32)
  distance = np.max(np.abs(pixels - background_rgb), axis=-1)
  mask = distance > MASK_THRESHOLD
  area = int(mask.sum())
  if area < MIN_OBJECT_FRACTION * size * size:
    return Judgement(background, None, None, None)
  # The most saturated half of the mask: blurred edges blend toward the
  # background and would pull the colour off.
  in_mask = distance[mask]
  core = pixels[mask][in_mask >= np.median(in_mask)]
  colour = _nearest(np.median(core, axis=0), shapes.COLOURS)
  # The centre of the mask's box, as in SHAPES.md (a triangle's centroid
  # lies below it); percentiles keep stray pixels from stretching the box.
  rows, cols = np.nonzero(mask)
  centre = (
    np.array(
      [
        np.percentile(cols, (2, 98)).mean() + 0.5,
        np.percentile(rows, (2, 98)).mean() + 0.5,
      ]
    )
    / size
  )
  position = min(
    shapes.POSITIONS,
    key=lambda p: np.sum((np.asarray(shapes.POSITIONS[p]) - centre) ** 2),
  )
  large = area >= LARGE_AREA_FRACTION * size * size
  return Judgement(background, colour, position, "large" if large else "small")


@dataclasses.dataclass(frozen=True)
class Report:
  """Per-attribute accuracy over the captions that name each attribute.

  Attributes:
    correct: {attribute: images whose judged value matches the caption}.
    named: {attribute: captions that name the attribute}.
    all_right: images with every named attribute right.
    object_right: images with every named object attribute (colour,
      position, size) right, whatever the background.
    num_images: images judged.
    no_object: images in which no object was seen.
  """

  correct: Mapping[str, int]
  named: Mapping[str, int]
  all_right: int
  object_right: int
  num_images: int
  no_object: int

  def accuracy(self, attribute: str) -> float:
    return self.correct[attribute] / max(self.named[attribute], 1)

  @property
  def all_right_fraction(self) -> float:
    return self.all_right / max(self.num_images, 1)

  def summary(self) -> str:
    parts = [
      f"{a} {self.accuracy(a):.1%} (of {self.named[a]})" for a in ATTRIBUTES
    ]
    return (
      ", ".join(parts) + f"; all named attributes right "
      f"{self.all_right_fraction:.1%}, named colour, position and size "
      f"right {self.object_right / max(self.num_images, 1):.1%} of "
      f"{self.num_images}; no object seen in {self.no_object}"
    )


def judge(captions: Sequence[str], images: Sequence[np.ndarray]) -> Report:
  """Judges each image against the caption it was drawn from."""
  if len(captions) != len(images):
    raise ValueError(f"{len(captions)} captions but {len(images)} images")
  correct, named = collections.Counter(), collections.Counter()
  all_right = object_right = no_object = 0
  for caption, image in zip(captions, images):
    seen = judge_image(image)
    no_object += seen.colour is None
    wanted = parse_caption(caption)
    right = [seen.get(a) == v for a, v in wanted.items()]
    for (attribute, _), ok in zip(wanted.items(), right):
      named[attribute] += 1
      correct[attribute] += ok
    all_right += all(right)
    object_right += all(
      ok for (a, _), ok in zip(wanted.items(), right) if a in OBJECT_ATTRIBUTES
    )
  return Report(
    {a: correct[a] for a in ATTRIBUTES},
    {a: named[a] for a in ATTRIBUTES},
    all_right,
    object_right,
    len(images),
    no_object,
  )


def caption_sample(
  captions_per_image: Sequence[Sequence[str]], seed: int = 0
) -> Tuple[str, ...]:
  """One caption per image, chosen reproducibly."""
  rng = np.random.default_rng(seed)
  return tuple(c[int(rng.integers(len(c)))] for c in captions_per_image)
