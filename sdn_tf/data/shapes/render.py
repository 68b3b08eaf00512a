"""Rendering one shape: exact geometry, anti-aliasing, jitter and noise.

Conventions: pixel coordinates are continuous, the image spans [0, R] x
[0, R], pixel (row i, column j) covers [j, j + 1) x [i, i + 1) and y grows
downwards. An object's "centre" is the centre of its bounding box (the
square of side `extent`); for the triangle (apex up) the area centroid lies
extent / 6 below it, which `object_centroid` gives.
"""

from typing import Tuple

import numpy as np

from sdn_tf.data.shapes.spec import CROSS_ARM
from sdn_tf.data.shapes.spec import NOISE_SIGMA
from sdn_tf.data.shapes.spec import SUPERSAMPLE
from sdn_tf.data.shapes.spec import ShapeAttributes

# ----------------------------------------------------------------------------
# Geometry and rendering.
# ----------------------------------------------------------------------------


def object_area(shape: str, extent: float) -> float:
  """Returns the shape's area for a bounding-box side `extent` (any unit)."""
  factors = {
    "circle": np.pi / 4.0,
    "square": 1.0,
    "triangle": 0.5,
    "cross": 2.0 * CROSS_ARM - CROSS_ARM**2,
  }
  return factors[shape] * extent**2


def object_centroid(
  shape: str, centre: Tuple[float, float], extent: float
) -> Tuple[float, float]:
  """Returns the area centroid (x, y), in the units of `centre`/`extent`."""
  cx, cy = centre
  if shape == "triangle":
    return cx, cy + extent / 6.0  # Apex up: 2/3 of the height below it.
  return cx, cy


def _inside(
  shape: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float, extent: float
) -> np.ndarray:
  """Boolean mask of the points (x, y) that lie inside the shape."""
  half = extent / 2.0
  dx, dy = np.abs(x - cx), np.abs(y - cy)
  if shape == "circle":
    return dx**2 + dy**2 <= half**2
  if shape == "square":
    return (dx <= half) & (dy <= half)
  if shape == "triangle":
    depth = y - (cy - half)  # Distance below the apex.
    return (depth >= 0) & (depth <= extent) & (dx <= depth / 2.0)
  if shape == "cross":
    arm = extent * CROSS_ARM / 2.0
    return ((dx <= half) & (dy <= arm)) | ((dx <= arm) & (dy <= half))
  raise ValueError(f"unknown shape {shape!r}")


def shape_coverage(
  attrs: ShapeAttributes, image_size: int, supersample: int = SUPERSAMPLE
) -> np.ndarray:
  """Returns the fraction of each pixel the object covers, float32 [R, R].

  Each pixel is sampled on a `supersample` x `supersample` grid, only inside
  the object's bounding box, which keeps the cost independent of R^2.
  """
  r, s = image_size, supersample
  cx, cy = attrs.centre[0] * r, attrs.centre[1] * r
  half = attrs.extent * r / 2.0
  x0, x1 = max(int(np.floor(cx - half)), 0), min(int(np.ceil(cx + half)), r)
  y0, y1 = max(int(np.floor(cy - half)), 0), min(int(np.ceil(cy + half)), r)
  offsets = (np.arange(s) + 0.5) / s
  xs = (np.arange(x0, x1)[:, None] + offsets).reshape(-1)
  ys = (np.arange(y0, y1)[:, None] + offsets).reshape(-1)
  inside = _inside(
    attrs.shape, xs[None, :], ys[:, None], cx, cy, attrs.extent * r
  )
  cover = np.zeros((r, r), np.float32)
  cover[y0:y1, x0:x1] = inside.reshape(y1 - y0, s, x1 - x0, s).mean(axis=(1, 3))
  return cover


def render_image(
  attrs: ShapeAttributes, image_size: int, rng: np.random.Generator
) -> np.ndarray:
  """Renders one image, uint8 [R, R, 3]: anti-aliased object plus noise."""
  alpha = shape_coverage(attrs, image_size)[..., None]
  bg = np.asarray(attrs.background_rgb, np.float32)
  obj = np.asarray(attrs.object_rgb, np.float32)
  image = bg + alpha * (obj - bg)
  image += NOISE_SIGMA * rng.standard_normal(image.shape, dtype=np.float32)
  return np.clip(np.rint(image), 0, 255).astype(np.uint8)
