"""The captioned shapes' attribute tables, classes and attribute sampling.

What the data set contains (docs/SHAPES.md): shapes, colours, sizes,
positions and backgrounds, the 32 (shape, colour) classes with four held
out of training, and how one image's attributes are drawn from its own
random generator, seeded by (seed, split, index), so an image never depends
on which others were generated, in which order, or at which image size.
Geometry is in fractions of the image side R.
"""

import dataclasses
from typing import Dict
from typing import List
from typing import Sequence
from typing import Tuple

import numpy as np

# ----------------------------------------------------------------------------
# Attribute tables (docs/SHAPES.md). RGB values are exact, before jitter.
# ----------------------------------------------------------------------------

SHAPES: Tuple[str, ...] = ("circle", "square", "triangle", "cross")

COLOURS: Dict[str, Tuple[int, int, int]] = {
  "red": (220, 40, 40),
  "green": (40, 180, 60),
  "blue": (40, 80, 220),
  "yellow": (230, 210, 40),
  "purple": (150, 60, 200),
  "orange": (240, 140, 30),
  "cyan": (40, 200, 210),
  "white": (240, 240, 240),
}

# Object extent (side of its bounding box) as a fraction of the image side.
SIZES: Dict[str, float] = {"small": 0.25, "large": 0.5}

# Nominal object centre (x, y) as fractions of the image side.
POSITIONS: Dict[str, Tuple[float, float]] = {
  "center": (0.5, 0.5),
  "left": (0.25, 0.5),
  "right": (0.75, 0.5),
  "top": (0.5, 0.25),
  "bottom": (0.5, 0.75),
}

BACKGROUNDS: Dict[str, Tuple[int, int, int]] = {
  "black": (20, 20, 20),
  "gray": (110, 110, 110),
}

# Every attribute an image has, with its values in table order: what the
# records' attribute indices, multi-head teachers and the evaluator use.
ATTRIBUTE_VALUES: Dict[str, Tuple[str, ...]] = {
  "shape": SHAPES,
  "colour": tuple(COLOURS),
  "size": tuple(SIZES),
  "position": tuple(POSITIONS),
  "background": tuple(BACKGROUNDS),
}

# (shape, colour) pairs never in the training split (compositional test).
HELD_OUT_PAIRS: Tuple[Tuple[str, str], ...] = (
  ("triangle", "purple"),
  ("circle", "orange"),
  ("square", "cyan"),
  ("cross", "yellow"),
)

POSITION_JITTER = 0.04  # Uniform +- on each centre coordinate, fraction of R.
EXTENT_JITTER = 0.08  # Uniform +- relative change of the extent ("about").
COLOUR_JITTER = 10  # Uniform integer +- per channel, object and background.
NOISE_SIGMA = 4.0  # Gaussian pixel noise, in 0..255 units.
SUPERSAMPLE = 4  # Samples per pixel side for anti-aliasing.
CROSS_ARM = 1.0 / 3.0  # Arm thickness of the cross, fraction of the extent.

NUM_CAPTIONS = 10
DEFAULT_NUM_TRAIN = 10000
DEFAULT_NUM_TEST = 1600  # 50 per class.
DEFAULT_IMAGE_SIZE = 64
DEFAULT_SEED = 0


SPLITS: Tuple[str, ...] = ("train", "test")

# Classes.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeClass:
  """One class: a (shape, colour) pair.

  Attributes:
    index: class index, starting at 1 (as in classes.txt).
    shape: a name from SHAPES.
    colour: a name from COLOURS.
    held_out: whether the pair never appears in the training split.
  """

  index: int
  shape: str
  colour: str
  held_out: bool

  @property
  def name(self) -> str:
    """The class name without index, e.g. "red_triangle"."""
    return f"{self.colour}_{self.shape}"

  @property
  def dir_name(self) -> str:
    """The class folder name, e.g. "017.red_triangle"."""
    return f"{self.index:03d}.{self.name}"


def _build_classes() -> Tuple[ShapeClass, ...]:
  held_out = set(HELD_OUT_PAIRS)
  pairs = [(s, c) for s in SHAPES for c in COLOURS]
  return tuple(
    ShapeClass(i + 1, s, c, (s, c) in held_out)
    for i, (s, c) in enumerate(pairs)
  )


CLASSES: Tuple[ShapeClass, ...] = _build_classes()


def class_list() -> List[ShapeClass]:
  """Returns the 32 classes, shape-major in table order, indices from 1."""
  return list(CLASSES)


def split_classes(split: str) -> List[ShapeClass]:
  """Returns the classes a split draws from: train leaves out held-out pairs."""
  _check_split(split)
  if split == "train":
    return [c for c in CLASSES if not c.held_out]
  return list(CLASSES)


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


# ----------------------------------------------------------------------------
# Attributes and their sampling.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShapeAttributes:
  """Everything that determines one image except its pixel noise.

  Geometry is in fractions of the image side, so the same attributes render
  at any image size.

  Attributes:
    shape, colour, size, position, background: names from the tables.
    centre: bounding-box centre (x, y), fractions of the image side.
    extent: bounding-box side, fraction of the image side.
    object_rgb: the object's colour after jitter.
    background_rgb: the background's colour after jitter.
  """

  shape: str
  colour: str
  size: str
  position: str
  background: str
  centre: Tuple[float, float]
  extent: float
  object_rgb: Tuple[int, int, int]
  background_rgb: Tuple[int, int, int]


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
  """Returns the generator of image `index` of `split` for `seed`."""
  _check_split(split)
  return np.random.default_rng([seed, SPLITS.index(split), index])


def pick(rng: np.random.Generator, options: Sequence):
  # rng.choice converts its argument to an array; indexing is ~10x faster.
  return options[int(rng.integers(len(options)))]


def _jitter_colour(
  rng: np.random.Generator, rgb: Sequence[int]
) -> Tuple[int, int, int]:
  delta = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
  return tuple(int(v) for v in np.clip(np.asarray(rgb) + delta, 0, 255))


def _place_centre(nominal: float, jitter: float, extent: float) -> float:
  # Clamping keeps the whole bounding box inside the image; for a large
  # object at a side this only narrows the jitter to one side.
  half = extent / 2.0
  return float(np.clip(nominal + jitter, half, 1.0 - half))


def sample_attributes(
  rng: np.random.Generator, shape: str, colour: str
) -> ShapeAttributes:
  """Samples size, position, background and jitter for a (shape, colour)."""
  size = pick(rng, list(SIZES))
  position = pick(rng, list(POSITIONS))
  background = pick(rng, list(BACKGROUNDS))
  extent = SIZES[size] * (1.0 + rng.uniform(-EXTENT_JITTER, EXTENT_JITTER))
  jx, jy = rng.uniform(-POSITION_JITTER, POSITION_JITTER, size=2)
  nx, ny = POSITIONS[position]
  centre = (_place_centre(nx, jx, extent), _place_centre(ny, jy, extent))
  return ShapeAttributes(
    shape=shape,
    colour=colour,
    size=size,
    position=position,
    background=background,
    centre=centre,
    extent=float(extent),
    object_rgb=_jitter_colour(rng, COLOURS[colour]),
    background_rgb=_jitter_colour(rng, BACKGROUNDS[background]),
  )
