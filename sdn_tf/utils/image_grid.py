"""Image grids with captions, for sample PNGs and TensorBoard."""

import io
import textwrap
from typing import Optional
from typing import Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont


def tile(
  images: np.ndarray, columns: int, pad: int = 2, pad_value: int = 255
) -> np.ndarray:
  """Tiles uint8 images [N, H, W, 3] into rows of `columns`."""
  images = np.asarray(images, np.uint8)
  n, h, w, c = images.shape
  rows = -(-n // columns)
  grid = np.full(
    (rows * (h + pad) + pad, columns * (w + pad) + pad, c), pad_value, np.uint8
  )
  for i, image in enumerate(images):
    r, col = divmod(i, columns)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top : top + h, left : left + w] = image
  return grid


def captioned_rows(
  rows: Sequence[np.ndarray],
  captions: Sequence[str],
  cell: Optional[int] = None,
  text_width: int = 260,
  header: Optional[Sequence[str]] = None,
) -> np.ndarray:
  """One row per caption: the caption's text, then its images.

  Args:
    rows: per caption, uint8 images [K, H, W, 3].
    captions: the caption of each row.
    cell: side to which each image is scaled (default: its own, at least 96
      so small images stay visible).
    text_width: pixels reserved for the caption text on the left.
    header: optional column titles.

  Returns:
    The grid, uint8 [height, width, 3].
  """
  font = ImageFont.load_default()
  k = max(len(r) for r in rows)
  side = cell or max(96, rows[0].shape[1])
  pad = 4
  header_h = 16 if header else 0
  width = text_width + k * (side + pad) + pad
  height = header_h + len(rows) * (side + pad) + pad
  canvas = Image.new("RGB", (width, height), (255, 255, 255))
  draw = ImageDraw.Draw(canvas)
  if header:
    for j, title in enumerate(header):
      draw.text(
        (text_width + j * (side + pad) + pad, 2),
        title,
        fill=(0, 0, 0),
        font=font,
      )
  chars_per_line = max(10, text_width // 7)
  for i, (images, caption) in enumerate(zip(rows, captions)):
    top = header_h + pad + i * (side + pad)
    lines = textwrap.wrap(caption, chars_per_line)[: side // 12] or [""]
    draw.multiline_text((pad, top), "\n".join(lines), fill=(0, 0, 0), font=font)
    for j, image in enumerate(images):
      tile_image = Image.fromarray(np.asarray(image, np.uint8)).resize(
        (side, side), Image.NEAREST
      )
      canvas.paste(tile_image, (text_width + j * (side + pad) + pad, top))
  return np.asarray(canvas)


def to_png(image: np.ndarray) -> bytes:
  """PNG bytes of a uint8 RGB array."""
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()
