"""Tests for the Oxford-102 flowers loader on a tiny layout in tmp_path."""

import os

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import loader_common as common
from sdn_tf.data import oxford102

# image number -> class folder holding its captions; image 5 has none.
CAPTIONED = {
  1: "class_00001",
  2: "class_00001",
  3: "class_00002",
  4: "class_00083",
}
UNCAPTIONED = 5


def _save_image(path, seed):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), np.uint8)
  Image.fromarray(pixels).save(path, format="JPEG")


def make_flowers(base, text_parent=None):
  text_dir = os.path.join(text_parent or base, "text_c10")
  for number in list(CAPTIONED) + [UNCAPTIONED]:
    _save_image(os.path.join(base, "jpg", f"image_{number:05d}.jpg"), number)
  for number, class_dir in CAPTIONED.items():
    folder = os.path.join(text_dir, class_dir)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"image_{number:05d}.txt"), "w") as f:
      f.write(f"a flower number {number}\nits petals are red\n")
    # Reed's folders also hold feature files, which must be ignored.
    open(os.path.join(folder, f"image_{number:05d}.h5"), "wb").close()
  return text_dir


def test_records_take_class_from_caption_folder(tmp_path):
  make_flowers(str(tmp_path))
  source = oxford102.load_oxford102(str(tmp_path))
  records = list(source.records())
  assert source.class_names == ("class_00001", "class_00002", "class_00083")
  assert [r.example_id for r in records] == [
    "jpg/image_00001",
    "jpg/image_00002",
    "jpg/image_00003",
    "jpg/image_00004",
  ]
  assert [r.label for r in records] == [0, 0, 1, 2]
  assert records[2].class_name == "class_00002"
  assert records[0].captions == ("a flower number 1", "its petals are red")
  assert os.path.isfile(records[0].image_path)
  assert records[0].box is None and records[0].embeddings is None


def test_default_split_puts_classes_above_82_in_test(tmp_path):
  make_flowers(str(tmp_path))
  source = oxford102.load_oxford102(str(tmp_path))
  assert [r.split for r in source.records()] == [
    "train",
    "train",
    "train",
    "test",
  ]
  assert "class_00082" in source.split_rule


def test_image_without_captions_is_reported(tmp_path):
  make_flowers(str(tmp_path))
  issues = [
    i
    for i in oxford102.load_oxford102(str(tmp_path)).items()
    if isinstance(i, common.DataIssue)
  ]
  assert len(issues) == 1
  assert issues[0].reason == common.MISSING_CAPTION_FILE
  assert issues[0].path.endswith("image_00005.jpg")


def test_reed_class_list_in_data_dir_is_used(tmp_path):
  make_flowers(str(tmp_path), text_parent=str(tmp_path / "cvpr2016_flowers"))
  # Plain numbers are accepted as well as folder names.
  (tmp_path / "testclasses.txt").write_text("2\n")
  source = oxford102.load_oxford102(str(tmp_path))
  assert [r.split for r in source.records()] == [
    "train",
    "train",
    "test",
    "train",
  ]
  assert "testclasses.txt" in source.split_rule


def test_explicit_class_list_and_unknown_class(tmp_path):
  make_flowers(str(tmp_path))
  listed = tmp_path / "mine.txt"
  listed.write_text("class_00001\n")
  records = list(
    oxford102.load_oxford102(
      str(tmp_path), test_classes_file=str(listed)
    ).records()
  )
  assert [r.split for r in records] == ["test", "test", "train", "train"]
  listed.write_text("class_00099\n")
  with pytest.raises(common.LayoutError, match="class_00099"):
    oxford102.load_oxford102(str(tmp_path), test_classes_file=str(listed))


def test_wrong_layout_and_missing_dir(tmp_path):
  with pytest.raises(
    common.LayoutError,
    match=r"does not look like Oxford-102 flowers: expected "
    r"jpg/ and text_c10/",
  ):
    oxford102.load_oxford102(str(tmp_path))
  with pytest.raises(common.LayoutError, match="does not exist"):
    oxford102.load_oxford102(str(tmp_path / "missing"))
