"""Tests for the plain captioned-folder loader on tiny folders in tmp_path."""

import os

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import folder
from sdn_tf.data import loader_common as common

_FORMATS = {
  ".jpg": "JPEG",
  ".jpeg": "JPEG",
  ".png": "PNG",
  ".webp": "WEBP",
  ".bmp": "BMP",
}


def add_image(base, relpath, captions="a red square\n", seed=0):
  """Writes an image and (unless captions is None) its caption file."""
  path = os.path.join(base, relpath)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), np.uint8)
  Image.fromarray(pixels).save(path, format=_FORMATS[os.path.splitext(path)[1]])
  if captions is not None:
    with open(os.path.splitext(path)[0] + ".txt", "w") as f:
      f.write(captions)
  return path


def test_flat_folder_is_one_class(tmp_path):
  base = tmp_path / "pics"
  for i, ext in enumerate(folder.IMAGE_EXTENSIONS):
    add_image(str(base), f"img{i}{ext}", captions=f"one\n\n  two {i} \n")
  source = folder.load_folder(str(base), test_fraction=0.0)
  records = list(source.records())
  assert [r.example_id for r in records] == [
    "img0.jpg",
    "img1.jpeg",
    "img2.png",
    "img3.webp",
    "img4.bmp",
  ]
  assert {r.label for r in records} == {0}
  assert source.class_names == ("pics",)
  assert records[2].captions == ("one", "two 2")
  assert {r.split for r in records} == {"train"}


def test_subfolders_are_classes_and_hidden_files_are_ignored(tmp_path):
  add_image(str(tmp_path), "cats/a.jpg")
  add_image(str(tmp_path), "cats/deeper/b.png")
  add_image(str(tmp_path), "dogs/c.jpg")
  add_image(str(tmp_path), "top.jpg")
  add_image(str(tmp_path), ".cache/x.jpg")
  add_image(str(tmp_path), "dogs/.hidden.jpg")
  source = folder.load_folder(str(tmp_path))
  labels = {r.example_id: (r.label, r.class_name) for r in source.records()}
  root_name = os.path.basename(str(tmp_path))
  assert labels == {
    "top.jpg": (0, root_name),
    "cats/a.jpg": (1, "cats"),
    "cats/deeper/b.png": (1, "cats"),
    "dogs/c.jpg": (2, "dogs"),
  }


def test_hash_split_is_deterministic_and_follows_fraction(tmp_path):
  for i in range(40):
    add_image(str(tmp_path), f"im{i:02d}.png", seed=i)
  splits = [
    r.split
    for r in folder.load_folder(str(tmp_path), test_fraction=0.25).records()
  ]
  again = [
    r.split
    for r in folder.load_folder(str(tmp_path), test_fraction=0.25).records()
  ]
  assert splits == again
  assert 3 <= splits.count("test") <= 17
  assert {
    r.split
    for r in folder.load_folder(str(tmp_path), test_fraction=1.0).records()
  } == {"test"}
  # The rule depends on the relative path only.
  assert folder.is_test("im00.png", 0.25) == (splits[0] == "test")


def test_missing_and_empty_caption_files_are_reported(tmp_path):
  add_image(str(tmp_path), "a.jpg", captions=None)
  add_image(str(tmp_path), "b.jpg", captions=" \n\n")
  add_image(str(tmp_path), "c.jpg")
  items = list(folder.load_folder(str(tmp_path)).items())
  issues = [i for i in items if isinstance(i, common.DataIssue)]
  assert [(i.reason, os.path.basename(i.path)) for i in issues] == [
    (common.MISSING_CAPTION_FILE, "a.txt"),
    (common.EMPTY_CAPTION_FILE, "b.txt"),
  ]
  assert [r.example_id for r in common.only_records(items)] == ["c.jpg"]


def test_errors(tmp_path):
  with pytest.raises(
    common.LayoutError, match="does not look like a folder of captioned images"
  ):
    folder.load_folder(str(tmp_path))
  with pytest.raises(common.LayoutError, match="does not exist"):
    folder.load_folder(str(tmp_path / "nope"))
  with pytest.raises(common.DatasetError, match="--test_fraction=1.5"):
    folder.load_folder(str(tmp_path), test_fraction=1.5)
