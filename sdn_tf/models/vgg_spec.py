"""VGG19 described once, as data.

Both networks are derived from this description: the teacher exposes the 22
mirror points by VGG19's own layer names, and the student builds one layer
per point, in reverse, named `<point>_mirror`. A test holds each student
activation against the teacher layer it mirrors.
"""

import dataclasses
from typing import Tuple

# keras.applications.vgg19: five blocks of 3x3 convs, a 2x2 pool after each.
STACK_REPEATS = (2, 2, 4, 4, 4)
STACK_FILTERS = (64, 128, 256, 512, 512)
# Total down-sampling of the deepest feature map (five 2x2 pools).
TOTAL_STRIDE = 2 ** len(STACK_REPEATS)


@dataclasses.dataclass(frozen=True)
class MirrorPoint:
  """One level at which the teacher's knowledge is distilled.

  Attributes:
    name: the teacher layer's name in `keras.applications.VGG19`
      ("input" for the image itself).
    kind: "input", "conv" or "pool".
    channels: channels of the layer's output.
    stride: input size / the output's spatial size.
    block: VGG block index from 1 (0 for the input).
  """

  name: str
  kind: str
  channels: int
  stride: int
  block: int

  def shape(self, image_size: int) -> Tuple[int, int, int]:
    """The layer's output shape (H, W, C) for a square input of `image_size`."""
    side = image_size // self.stride
    return (side, side, self.channels)

  @property
  def mirror_name(self) -> str:
    return f"{self.name}_mirror"


def _mirror_points() -> Tuple[MirrorPoint, ...]:
  points = [MirrorPoint("input", "input", 3, 1, 0)]
  stride = 1
  for block, (repeats, filters) in enumerate(
    zip(STACK_REPEATS, STACK_FILTERS), start=1
  ):
    for conv in range(1, repeats + 1):
      points.append(
        MirrorPoint(f"block{block}_conv{conv}", "conv", filters, stride, block)
      )
    stride *= 2
    points.append(
      MirrorPoint(f"block{block}_pool", "pool", filters, stride, block)
    )
  return tuple(points)


# The 22 mirror points in the teacher's (bottom-up) order.
MIRROR_POINTS = _mirror_points()
POINT_NAMES = tuple(p.name for p in MIRROR_POINTS)
POINTS_BY_NAME = {p.name: p for p in MIRROR_POINTS}


def validate_image_size(image_size: int) -> None:
  """Raises ValueError unless VGG19's five pools divide `image_size`."""
  if image_size < TOTAL_STRIDE or image_size % TOTAL_STRIDE:
    raise ValueError(
      f"image size must be a positive multiple of {TOTAL_STRIDE} "
      f"(VGG19 has five 2x2 pools), got {image_size}"
    )


def parse_points(spec: str) -> Tuple[str, ...]:
  """Parses a comma-separated list of mirror point names ('all' = all 22).

  Block shorthands are accepted: 'block3' means every point of block 3.
  The result keeps the teacher's order.
  """
  wanted = {s.strip() for s in spec.split(",") if s.strip()}
  if not wanted:
    raise ValueError("empty list of mirror points")
  if "all" in wanted:
    return POINT_NAMES
  chosen = set()
  for item in wanted:
    if item in POINTS_BY_NAME:
      chosen.add(item)
    elif item.startswith("block") and item[5:].isdigit():
      block_points = [p.name for p in MIRROR_POINTS if p.block == int(item[5:])]
      if not block_points:
        raise ValueError(f"unknown VGG19 block {item!r}")
      chosen.update(block_points)
    else:
      raise ValueError(
        f"unknown mirror point {item!r}; expected 'all', blockN or one of "
        f"{', '.join(POINT_NAMES)}"
      )
  return tuple(n for n in POINT_NAMES if n in chosen)
