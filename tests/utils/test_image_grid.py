"""Tests for sdn_tf.utils.image_grid: tile layout, captioned rows, PNG bytes."""

import io

import numpy as np
from PIL import Image
import pytest

from sdn_tf.utils import image_grid


def _solid(values, size=(2, 3)):
  """One uint8 image [h, w, 3] per value, filled with it."""
  h, w = size
  return np.stack([np.full((h, w, 3), v, np.uint8) for v in values])


def test_tile_layout_by_hand():
  images = _solid([10, 20, 30], size=(2, 3))
  grid = image_grid.tile(images, columns=2, pad=1, pad_value=255)
  # 2 rows of (2 + 1) + 1 = 7; 2 columns of (3 + 1) + 1 = 9.
  assert grid.shape == (7, 9, 3)
  assert grid.dtype == np.uint8
  expected = np.full((7, 9), 255, np.uint8)
  expected[1:3, 1:4] = 10
  expected[1:3, 5:8] = 20
  expected[4:6, 1:4] = 30  # second row, first column; its neighbour is pad
  np.testing.assert_array_equal(grid[..., 0], expected)
  np.testing.assert_array_equal(grid[..., 1], expected)


def test_tile_default_padding():
  images = _solid([0] * 4, size=(4, 4))
  grid = image_grid.tile(images, columns=4)
  # pad 2, white.
  assert grid.shape == (2 + 4 + 2, 2 + 4 * (4 + 2), 3)
  assert np.all(grid[:2] == 255)
  assert np.all(grid[:, :2] == 255)
  assert np.all(grid[2:6, 2:6] == 0)
  assert np.all(grid[2:6, 6:8] == 255)
  assert grid.sum() == 255 * (grid.size - 4 * 16 * 3)


def test_tile_one_column_and_pad_value():
  images = _solid([1, 2, 3], size=(1, 1))
  grid = image_grid.tile(images, columns=1, pad=0, pad_value=7)
  np.testing.assert_array_equal(grid[..., 2], [[1], [2], [3]])
  grid = image_grid.tile(images, columns=5, pad=1, pad_value=7)
  assert grid.shape == (3, 11, 3)
  np.testing.assert_array_equal(
    grid[1, :, 0], [7, 1, 7, 2, 7, 3, 7, 7, 7, 7, 7]
  )


def test_tile_keeps_pixels():
  rng = np.random.RandomState(0)
  images = rng.randint(0, 256, (5, 3, 4, 3)).astype(np.uint8)
  grid = image_grid.tile(images, columns=3, pad=2)
  for i, image in enumerate(images):
    r, c = divmod(i, 3)
    top, left = 2 + r * 5, 2 + c * 6
    np.testing.assert_array_equal(grid[top : top + 3, left : left + 4], image)


def test_captioned_rows_size_and_placement():
  rows = [_solid([0, 50], size=(8, 8)), _solid([100], size=(8, 8))]
  grid = image_grid.captioned_rows(
    rows, ["a red circle", "a blue square"], cell=10, text_width=40
  )
  pad = 4
  # k = 2 columns of (10 + 4) + 4 after the text; 2 rows of (10 + 4) + 4.
  assert grid.shape == (2 * (10 + pad) + pad, 40 + 2 * (10 + pad) + pad, 3)
  assert grid.dtype == np.uint8
  # First row: images at x = 44 and 58, y = 4, scaled to 10 x 10.
  assert np.all(grid[4:14, 44:54] == 0)
  assert np.all(grid[4:14, 58:68] == 50)
  # Second row has one image; the rest of the row stays white.
  assert np.all(grid[18:28, 44:54] == 100)
  assert np.all(grid[18:28, 58:68] == 255)


def test_captioned_rows_default_cell_and_header():
  rows = [_solid([30, 60, 90], size=(32, 32))]
  grid = image_grid.captioned_rows(rows, [""], header=["a", "b", "c"])
  side = 96  # small images are scaled up to at least 96
  assert grid.shape == (16 + side + 8, 260 + 3 * (side + 4) + 4, 3)
  assert np.all(grid[20 : 20 + side, 264 : 264 + side] == 30)
  # No caption, no text: the caption column is white below the header.
  assert np.all(grid[16:, :260] == 255)
  captioned = image_grid.captioned_rows(rows, ["a red circle"])
  # The caption is drawn in black on the left, the images are unchanged.
  assert captioned[:, :260].min() < 64
  np.testing.assert_array_equal(captioned[:, 260:], grid[16:, 260:])
  big = [_solid([30], size=(128, 128))]
  assert image_grid.captioned_rows(big, ["x"]).shape == (
    128 + 8,
    260 + 128 + 8,
    3,
  )


def test_captioned_rows_long_caption_fits():
  long_caption = "a very long caption " * 50
  grid = image_grid.captioned_rows(
    [_solid([0], size=(4, 4))], [long_caption], cell=24, text_width=60
  )
  assert grid.shape == (24 + 8, 60 + 24 + 8, 3)


@pytest.mark.parametrize("shape", [(5, 7, 3), (1, 1, 3)])
def test_to_png_decodes_back(shape):
  image = np.random.RandomState(1).randint(0, 256, shape).astype(np.uint8)
  data = image_grid.to_png(image)
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
  np.testing.assert_array_equal(decoded, image)
