"""Tests for the layout registry, detection and its one-line errors.

Detection only looks at file names, so most fixtures here are empty marker
files; the loaders themselves are tested in test_*_loader.py.
"""

import os

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import layouts
from sdn_tf.data import loader_common as common


def _touch(base, *relpaths):
  for relpath in relpaths:
    path = os.path.join(base, relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def _captioned_folder(base):
  os.makedirs(base, exist_ok=True)
  pixels = np.zeros((24, 24, 3), np.uint8)
  Image.fromarray(pixels).save(os.path.join(base, "a.png"))
  with open(os.path.join(base, "a.txt"), "w") as f:
    f.write("a black square\n")


def test_registry_names():
  assert set(layouts.dataset_names()) == {
    "cub",
    "oxford102",
    "stackgan",
    "folder",
    "shapes",
  }
  assert layouts.loader_options("folder") == ("test_fraction",)
  assert layouts.loader_options("shapes") == ()


@pytest.mark.parametrize(
  "markers,expected",
  [
    (["train/filenames.pickle", "test/filenames.pickle"], "stackgan"),
    # An explicit id: "-k 'not shapes'" deselects the generator's own tests.
    pytest.param(
      ["images.txt", "attributes.jsonl"], "shapes", id="builtin-generated"
    ),
    (["CUB_200_2011/images.txt"], "cub"),
    (["images.txt"], "cub"),
    (
      ["jpg/image_00001.jpg", "text_c10/class_00001/image_00001.txt"],
      "oxford102",
    ),
    (["cats/a.jpg", "cats/a.txt"], "folder"),
    (["notes.txt", "a.jpg"], None),
  ],
)
def test_detect_layout(tmp_path, markers, expected):
  _touch(str(tmp_path), *markers)
  assert layouts.detect_layout(str(tmp_path)) == expected


def test_load_dataset_passes_options_and_ignores_none(tmp_path):
  _captioned_folder(str(tmp_path))
  source = layouts.load_dataset(
    "folder",
    str(tmp_path),
    test_fraction=1.0,
    split=None,
    test_classes_file=None,
  )
  assert [r.split for r in source.records()] == ["test"]


def test_auto_detects(tmp_path):
  _captioned_folder(str(tmp_path))
  assert layouts.load_dataset("auto", str(tmp_path)).name == "folder"


def test_unknown_dataset_and_foreign_option(tmp_path):
  with pytest.raises(common.DatasetError, match=r"--dataset=coco is not one"):
    layouts.load_dataset("coco", str(tmp_path))
  with pytest.raises(
    common.DatasetError,
    match=r"--split does not apply to --dataset=folder "
    r"\(it takes --test_fraction\)",
  ):
    layouts.load_dataset("folder", str(tmp_path), split="official")


def test_missing_data_dir(tmp_path):
  with pytest.raises(common.LayoutError) as e:
    layouts.load_dataset("cub", str(tmp_path / "nowhere"))
  assert str(e.value) == f"--data_dir={tmp_path / 'nowhere'} does not exist"


def test_mismatch_names_expectation_and_suggests_the_detected_layout(tmp_path):
  _captioned_folder(str(tmp_path))
  with pytest.raises(common.LayoutError) as e:
    layouts.load_dataset("cub", str(tmp_path))
  message = str(e.value)
  assert message.startswith(
    f"--data_dir={tmp_path} does not look like "
    f"CUB-200-2011: expected images.txt and images/ "
    f"(or CUB_200_2011/images.txt)"
  )
  assert message.endswith("it looks like --dataset=folder")
  assert "\n" not in message


def test_layout_matching_none(tmp_path):
  _touch(str(tmp_path), "readme.md")
  with pytest.raises(
    common.LayoutError, match="matches none of the known layouts"
  ):
    layouts.load_dataset("auto", str(tmp_path))
  with pytest.raises(common.LayoutError) as e:
    layouts.load_dataset("oxford102", str(tmp_path))
  assert "looks like" not in str(e.value)
