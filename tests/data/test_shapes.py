"""Tests for the built-in captioned shapes data set (sdn_tf/data/shapes/).

Every check reads what write_dataset put on disk, on tiny data sets, and
holds the pixels and captions against docs/SHAPES.md and attributes.jsonl.
"""

import json
import os
import re

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import shapes
from tests import tool_runner

_NUM_TRAIN = 40
_NUM_TEST = 40  # At least 32, so that every class appears.
_SEED = 7


def _write(
  out_dir,
  num_train=_NUM_TRAIN,
  num_test=_NUM_TEST,
  image_size=64,
  seed=_SEED,
  **kwargs,
):
  shapes.write_dataset(
    str(out_dir),
    num_train=num_train,
    num_test=num_test,
    image_size=image_size,
    seed=seed,
    **kwargs,
  )
  return str(out_dir)


def _read_tree(root):
  """Returns {relative path: bytes} of every file under `root`."""
  files = {}
  for dirpath, _, names in os.walk(root):
    for name in names:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, root)] = f.read()
  return files


def _read_pairs(root, name):
  """Reads a CUB "<id> <value>" file into an ordered list of pairs."""
  with open(os.path.join(root, name)) as f:
    return [tuple(line.split(" ", 1)) for line in f.read().splitlines()]


def _read_attributes(root):
  with open(os.path.join(root, "attributes.jsonl")) as f:
    return [json.loads(line) for line in f]


def _read_captions(root, row):
  stem = os.path.splitext(row["path"])[0]
  with open(os.path.join(root, "text_c10", stem + ".txt"), "rb") as f:
    return f.read().decode("ascii").splitlines()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  return _write(tmp_path_factory.mktemp("shapes") / "a")


@pytest.fixture(scope="module")
def dataset_128(tmp_path_factory):
  return _write(
    tmp_path_factory.mktemp("shapes128") / "a",
    num_train=8,
    num_test=32,
    image_size=128,
  )


# ---------------------------------------------------------------------------
# The tables are the spec's.
# ---------------------------------------------------------------------------


def test_tables_match_spec():
  assert shapes.SHAPES == ("circle", "square", "triangle", "cross")
  assert shapes.COLOURS == {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
    "purple": (150, 60, 200),
    "orange": (240, 140, 30),
    "cyan": (40, 200, 210),
    "white": (240, 240, 240),
  }
  assert shapes.BACKGROUNDS == {"black": (20, 20, 20), "gray": (110, 110, 110)}
  assert shapes.SIZES == {"small": 0.25, "large": 0.5}
  assert shapes.POSITIONS == {
    "center": (0.5, 0.5),
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
  }
  assert set(shapes.HELD_OUT_PAIRS) == {
    ("triangle", "purple"),
    ("circle", "orange"),
    ("square", "cyan"),
    ("cross", "yellow"),
  }
  assert shapes.POSITION_JITTER == 0.04


def test_class_list():
  classes = shapes.class_list()
  assert len(classes) == 32
  assert [c.index for c in classes] == list(range(1, 33))
  assert len({(c.shape, c.colour) for c in classes}) == 32
  for c in classes:
    assert re.fullmatch(r"\d{3}\.[a-z]+_[a-z]+", c.dir_name)
    assert c.dir_name == f"{c.index:03d}.{c.colour}_{c.shape}"
    assert c.held_out == ((c.shape, c.colour) in shapes.HELD_OUT_PAIRS)
  assert sum(c.held_out for c in classes) == 4


def test_phrase_tables_are_unambiguous():
  # Every phrase maps back to exactly one value, and no attribute word hides
  # inside template text.
  tables = [
    shapes.SIZE_PHRASES,
    shapes.POSITION_PHRASES,
    shapes.BACKGROUND_WORDS,
  ]
  for table in tables:
    for value, phrases in table.items():
      for phrase in phrases:
        owners = {
          v
          for v, ps in table.items()
          if any(re.search(rf"\b{re.escape(p)}\b", phrase) for p in ps)
        }
        assert owners == {value}, phrase
  assert len(shapes.CAPTION_TEMPLATES) >= 10
  for template in shapes.CAPTION_TEMPLATES:
    literal = re.sub(r"\{\w+\}", " ", template)
    words = set(re.findall(r"[a-z]+", literal))
    attribute_words = set(shapes.SHAPES) | set(shapes.COLOURS)
    for phrases in list(shapes.SIZE_PHRASES.values()) + list(
      shapes.BACKGROUND_WORDS.values()
    ):
      attribute_words |= set(phrases)
    assert not words & attribute_words, template
    assert "{colour}" in template and "{shape}" in template


# ---------------------------------------------------------------------------
# Determinism.
# ---------------------------------------------------------------------------


def test_same_seed_same_bytes(dataset, tmp_path):
  again = _read_tree(_write(tmp_path / "b"))
  first = _read_tree(dataset)
  assert sorted(first) == sorted(again)
  for path, data in first.items():
    assert data == again[path], path


def test_different_seed_differs(dataset, tmp_path):
  other = _read_tree(_write(tmp_path / "b", seed=_SEED + 1))
  first = _read_tree(dataset)
  assert first["attributes.jsonl"] != other["attributes.jsonl"]
  pngs = [p for p in first if p.endswith(".png") and p in other]
  assert sum(first[p] != other[p] for p in pngs) == len(pngs)


def test_worker_processes_give_same_bytes(dataset, tmp_path):
  parallel = _read_tree(_write(tmp_path / "b", num_workers=2))
  assert parallel == _read_tree(dataset)


def test_example_does_not_depend_on_order_or_count(dataset):
  # Image 5 of a bigger data set is image 5 of this one.
  rows = _read_attributes(dataset)
  row = next(r for r in rows if r["path"].endswith("_train_00005.png"))
  example = shapes.generate_example(_SEED, "train", 5, 64)
  with Image.open(os.path.join(dataset, "images", row["path"])) as im:
    np.testing.assert_array_equal(np.asarray(im), example.image)


def test_rerun_replaces_previous_dataset(tmp_path):
  out = _write(tmp_path / "a", num_train=40)
  _write(out, num_train=4, num_test=32)
  rows = _read_attributes(out)
  assert len(rows) == 36
  pngs = [p for p in _read_tree(out) if p.endswith(".png")]
  assert len(pngs) == 36  # No stale files from the bigger run.


def test_refuses_foreign_non_empty_dir(tmp_path):
  (tmp_path / "notes.txt").write_text("mine")
  with pytest.raises(shapes.ShapesArgumentError) as e:
    _write(tmp_path)
  assert e.value.arg == "out_dir"
  assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
  "kwargs, arg",
  [
    ({"num_train": -1}, "num_train"),
    ({"num_test": -1}, "num_test"),
    ({"num_test": 31}, "num_test"),
    ({"image_size": 48}, "image_size"),
    ({"image_size": 0}, "image_size"),
    ({"seed": -1}, "seed"),
  ],
)
def test_bad_arguments(tmp_path, kwargs, arg):
  with pytest.raises(shapes.ShapesArgumentError) as e:
    _write(tmp_path / "a", **kwargs)
  assert e.value.arg == arg
  assert not (tmp_path / "a").exists()


# ---------------------------------------------------------------------------
# Layout.
# ---------------------------------------------------------------------------


def _check_layout(root, num_train, num_test, image_size):
  classes = dict(_read_pairs(root, "classes.txt"))
  assert classes == {str(c.index): c.dir_name for c in shapes.class_list()}
  images = _read_pairs(root, "images.txt")
  labels = dict(_read_pairs(root, "image_class_labels.txt"))
  splits = dict(_read_pairs(root, "train_test_split.txt"))
  rows = {str(r["id"]): r for r in _read_attributes(root)}
  ids = [i for i, _ in images]
  assert ids == [str(i) for i in range(1, num_train + num_test + 1)]
  assert set(labels) == set(splits) == set(rows) == set(ids)
  assert [p for _, p in images] == sorted(p for _, p in images)
  for image_id, path in images:
    row = rows[image_id]
    class_dir = path.split("/")[0]
    assert classes[labels[image_id]] == class_dir == row["class_dir"]
    assert int(labels[image_id]) == row["class_index"]
    assert class_dir.endswith(f".{row['colour']}_{row['shape']}")
    assert row["path"] == path
    assert splits[image_id] == {"train": "1", "test": "0"}[row["split"]]
    assert os.path.basename(path).split("_")[2] == row["split"]
    with Image.open(os.path.join(root, "images", path)) as im:
      assert im.format == "PNG" and im.mode == "RGB"
      assert im.size == (image_size, image_size)
    stem = os.path.splitext(path)[0]
    assert os.path.isfile(os.path.join(root, "text_c10", stem + ".txt"))
  assert list(splits.values()).count("1") == num_train
  assert list(splits.values()).count("0") == num_test
  files = _read_tree(root)
  assert sum(p.startswith("images" + os.sep) for p in files) == len(ids)
  assert sum(p.startswith("text_c10" + os.sep) for p in files) == len(ids)


def test_layout_files_agree(dataset):
  _check_layout(dataset, _NUM_TRAIN, _NUM_TEST, 64)


def test_held_out_pairs_only_in_test(dataset):
  rows = _read_attributes(dataset)
  held_out = set(shapes.HELD_OUT_PAIRS)
  train = {(r["shape"], r["colour"]) for r in rows if r["split"] == "train"}
  test = {(r["shape"], r["colour"]) for r in rows if r["split"] == "test"}
  assert not train & held_out
  assert test == {(c.shape, c.colour) for c in shapes.class_list()}
  for r in rows:
    assert r["held_out"] == ((r["shape"], r["colour"]) in held_out)


# ---------------------------------------------------------------------------
# Pixels against attributes.
# ---------------------------------------------------------------------------


def _object_mask(image, row):
  """Pixels nearer the palette object colour than the palette background."""
  pixels = image.astype(np.float64)
  obj = np.asarray(shapes.COLOURS[row["colour"]], np.float64)
  bg = np.asarray(shapes.BACKGROUNDS[row["background"]], np.float64)
  return np.linalg.norm(pixels - obj, axis=-1) < np.linalg.norm(
    pixels - bg, axis=-1
  )


def _soft_coverage(image, row):
  """Per-pixel object fraction: projection onto background -> object colour."""
  bg = np.asarray(row["background_rgb"], np.float64)
  direction = np.asarray(row["object_rgb"], np.float64) - bg
  return (image.astype(np.float64) - bg) @ direction / (direction @ direction)


def _erode(mask):
  """Pixels whose 4-neighbours are all in `mask` (fully covered pixels)."""
  padded = np.pad(mask, 1)
  return (
    mask
    & padded[:-2, 1:-1]
    & padded[2:, 1:-1]
    & padded[1:-1, :-2]
    & padded[1:-1, 2:]
  )


def _mask_centroid(mask):
  ys, xs = np.nonzero(mask)
  return xs.mean() + 0.5, ys.mean() + 0.5  # Pixel centres.


def _check_pixels(root, row, image_size):
  """Holds one image's pixels against its attributes.jsonl row."""
  r = image_size
  tol = shapes.COLOUR_JITTER + 2
  with Image.open(os.path.join(root, "images", row["path"])) as im:
    image = np.asarray(im)
  mask = _object_mask(image, row)
  # Colours: the recorded jitter is within bounds, the pixels show it.
  palette_obj = np.asarray(shapes.COLOURS[row["colour"]])
  palette_bg = np.asarray(shapes.BACKGROUNDS[row["background"]])
  assert np.abs(np.asarray(row["object_rgb"]) - palette_obj).max() <= 10
  assert np.abs(np.asarray(row["background_rgb"]) - palette_bg).max() <= 10
  # Two erosions: one can leave partly covered pixels on thin cross arms.
  interior = image[_erode(_erode(mask))].mean(axis=0)
  assert np.abs(interior - palette_obj).max() <= tol, row
  assert np.abs(interior - row["object_rgb"]).max() <= 3, row
  background = np.median(image[~mask], axis=0)
  assert np.abs(background - palette_bg).max() <= tol, row
  # Position: recorded centre within the jitter of the named position, and
  # the pixels' centroid where the geometry puts it.
  nominal = np.asarray(shapes.POSITIONS[row["position"]]) * r
  assert np.abs(np.asarray(row["centre"]) - nominal).max() <= (
    shapes.POSITION_JITTER * r + 1e-3
  )
  expected_centroid = shapes.object_centroid(
    row["shape"], row["centre"], row["extent"]
  )
  np.testing.assert_allclose(row["centroid"], expected_centroid, atol=2e-3)
  np.testing.assert_allclose(_mask_centroid(mask), expected_centroid, atol=0.75)
  # Size: the extent is the named size's, the area the shape's geometry.
  size_frac = shapes.SIZES[row["size"]]
  assert abs(row["extent"] / r - size_frac) <= (
    size_frac * shapes.EXTENT_JITTER + 1e-3
  )
  area = shapes.object_area(row["shape"], row["extent"])
  assert abs(row["area"] - area) <= 1e-4 * area
  # Soft coverage from the recorded colours: unbiased under the noise, so
  # it measures the anti-aliased area rather than a thresholded one.
  coverage = _soft_coverage(image, row)
  assert abs(coverage.sum() - area) <= 0.02 * area + 0.25 * r, row
  # Everything inside the image; small ones do not touch the border.
  x0, y0, x1, y1 = row["bbox"]
  assert 0 <= x0 < x1 <= r and 0 <= y0 < y1 <= r
  if row["size"] == "small":
    border = np.ones_like(mask)
    border[1:-1, 1:-1] = False
    assert not (mask & border).any(), row
  return coverage.sum() / r**2


def test_pixels_match_attributes(dataset):
  areas = {"small": [], "large": []}
  for row in _read_attributes(dataset):
    areas[row["size"]].append(_check_pixels(dataset, row, 64))
  # Small and large are clearly separable by pixel area alone.
  assert max(areas["small"]) * 1.3 < min(areas["large"])


def test_side_positions_keep_small_objects_inside():
  for index in range(200):
    example = shapes.generate_example(_SEED, "test", index, 64)
    a = example.attrs
    half = a.extent / 2
    assert half <= a.centre[0] <= 1 - half
    assert half <= a.centre[1] <= 1 - half
    if a.size == "small":
      cover = shapes.shape_coverage(a, 64)
      assert not cover[[0, -1], :].any() and not cover[:, [0, -1]].any()


def test_coverage_area_matches_geometry():
  for shape in shapes.SHAPES:
    # Off the pixel grid, so that every shape has partly covered pixels.
    attrs = shapes.ShapeAttributes(
      shape=shape,
      colour="red",
      size="large",
      position="center",
      background="black",
      centre=(0.503, 0.507),
      extent=0.49,
      object_rgb=(220, 40, 40),
      background_rgb=(20, 20, 20),
    )
    cover = shapes.shape_coverage(attrs, 64)
    expected = shapes.object_area(shape, 0.49 * 64)
    assert abs(cover.sum() - expected) <= 0.02 * expected, shape
    # Anti-aliased: some edge pixels are partly covered.
    assert ((cover > 0) & (cover < 1)).any(), shape


def test_image_size_128(dataset_128):
  _check_layout(dataset_128, 8, 32, 128)
  for row in _read_attributes(dataset_128):
    _check_pixels(dataset_128, row, 128)


def test_attributes_do_not_depend_on_image_size():
  small = shapes.generate_example(_SEED, "train", 3, 64)
  big = shapes.generate_example(_SEED, "train", 3, 128)
  assert small.attrs == big.attrs
  assert small.captions == big.captions


# ---------------------------------------------------------------------------
# Captions.
# ---------------------------------------------------------------------------


def _found(caption, table):
  """Values of `table` whose phrases occur in `caption` as whole words."""
  return {
    value
    for value, phrases in table.items()
    if any(re.search(rf"\b{re.escape(p)}\b", caption) for p in phrases)
  }


def _template_regex(template):
  """A regex matching any filling of `template` (articles normalised)."""
  alternatives = {
    "size": [p for ps in shapes.SIZE_PHRASES.values() for p in ps],
    "colour": list(shapes.COLOURS),
    "shape": list(shapes.SHAPES),
    "pos": [p for ps in shapes.POSITION_PHRASES.values() for p in ps],
    "bg": [
      f.format(w)
      for f in shapes.BACKGROUND_PHRASES
      for ws in shapes.BACKGROUND_WORDS.values()
      for w in ws
    ],
    "bgn": [
      f.format(w)
      for f in shapes.BACKGROUND_NOUN_PHRASES
      for ws in shapes.BACKGROUND_WORDS.values()
      for w in ws
    ],
  }
  parts = re.split(r"\{(\w+)\}", _normalise_articles(template))
  pattern = ""
  for i, part in enumerate(parts):
    if i % 2:
      pattern += "(?:" + "|".join(map(re.escape, alternatives[part])) + ")"
    else:
      pattern += re.escape(part)
  return re.compile(pattern)


def _normalise_articles(text):
  return re.sub(r"\ban\b", "a", text)


def test_captions_describe_their_image(dataset):
  templates_used = set()
  mentions_background = 0
  num_captions = 0
  for row in _read_attributes(dataset):
    captions = _read_captions(dataset, row)
    assert len(captions) == shapes.NUM_CAPTIONS
    assert len(row["caption_templates"]) == shapes.NUM_CAPTIONS
    for caption, template_id in zip(captions, row["caption_templates"]):
      template = shapes.CAPTION_TEMPLATES[template_id]
      assert caption.isascii() and caption == caption.lower()
      assert caption.strip() == caption and "  " not in caption
      assert _template_regex(template).fullmatch(
        _normalise_articles(caption)
      ), (caption, template)
      assert not re.search(r"\ba [aeiou]", caption), caption
      words = set(re.findall(r"[a-z]+", caption))
      assert words & set(shapes.COLOURS) == {row["colour"]}, caption
      assert words & set(shapes.SHAPES) == {row["shape"]}, caption
      size = _found(caption, shapes.SIZE_PHRASES)
      assert size == ({row["size"]} if "{size}" in template else set())
      position = _found(caption, shapes.POSITION_PHRASES)
      assert position == (
        {row["position"]} if "{pos}" in template else set()
      ), caption
      background = _found(caption, shapes.BACKGROUND_WORDS)
      names_bg = "{bg}" in template or "{bgn}" in template
      assert background == ({row["background"]} if names_bg else set())
      mentions_background += names_bg
      templates_used.add(template_id)
      num_captions += 1
  assert len(templates_used) >= 10
  # Background named in some captions, not all.
  assert 0 < mentions_background < num_captions


# ---------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------


def _run_cli(*args):
  return tool_runner.run_tool("make_shapes.py", *args, timeout=120)


def test_cli_end_to_end(tmp_path):
  out = tmp_path / "cli"
  result = _run_cli(
    f"--out_dir={out}", "--num_train=8", "--num_test=32", "--seed=3"
  )
  assert result.returncode == 0, result.stderr
  assert "Traceback" not in result.stderr
  assert "32/32" not in result.stdout and "40/40" in result.stdout
  assert str(out) in result.stdout.splitlines()[-1]
  _check_layout(str(out), 8, 32, 64)
  assert _read_tree(str(out)) == _read_tree(
    _write(tmp_path / "lib", num_train=8, num_test=32, seed=3)
  )


@pytest.mark.parametrize(
  "flag, name",
  [
    ("--image_size=48", "--image_size"),
    ("--num_train=-5", "--num_train"),
  ],
)
def test_cli_rejects_bad_flag(tmp_path, flag, name):
  result = _run_cli(f"--out_dir={tmp_path / 'x'}", flag)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and name in lines[0], result.stderr
  assert not (tmp_path / "x").exists()
