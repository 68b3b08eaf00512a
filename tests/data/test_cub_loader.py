"""Tests for the CUB-200-2011 loader, its crop box and the shapes loader.

Each test builds a tiny CUB layout (three classes, two 24 x 24 images each)
in tmp_path; nothing is downloaded.
"""

import json
import os

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import cub
from sdn_tf.data import loader_common as common
from sdn_tf.data import shapes_loader

# (class id, class folder); ids 1 and 2 are train and 151 test in the
# default class-disjoint split.
CLASSES = (
  (1, "001.Black_footed_Albatross"),
  (2, "002.Laysan_Albatross"),
  (151, "151.Black_capped_Vireo"),
)
IMAGES_PER_CLASS = 2


def _save_image(path, seed, fmt="JPEG"):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), np.uint8)
  Image.fromarray(pixels).save(path, format=fmt)


def _write(path, text, mode="w"):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, mode) as f:
    f.write(text)


def make_cub(
  base,
  text_dir_parent=None,
  nested=True,
  ext=".jpg",
  with_boxes=True,
  extra_files=True,
):
  """Writes a tiny CUB layout; returns {image id: relpath without ext}."""
  root = os.path.join(base, "CUB_200_2011") if nested else base
  text_dir = os.path.join(text_dir_parent or base, "text_c10")
  images, labels, splits, boxes, stems = [], [], [], [], {}
  image_id = 0
  for class_id, class_dir in CLASSES:
    for k in range(IMAGES_PER_CLASS):
      image_id += 1
      stem = f"{class_dir}/{class_dir.split('.')[1]}_{k:04d}"
      stems[image_id] = stem
      _save_image(
        os.path.join(root, "images", stem + ext),
        image_id,
        "PNG" if ext == ".png" else "JPEG",
      )
      _write(
        os.path.join(text_dir, stem + ".txt"),
        "".join(f"caption {c} of bird {image_id}\n" for c in range(10)),
      )
      images.append(f"{image_id} {stem}{ext}")
      labels.append(f"{image_id} {class_id}")
      splits.append(f"{image_id} {k % 2}")
      boxes.append(f"{image_id} {image_id}.0 2.0 10.0 12.5")
  _write(os.path.join(root, "images.txt"), "\n".join(images) + "\n")
  _write(os.path.join(root, "image_class_labels.txt"), "\n".join(labels))
  _write(os.path.join(root, "train_test_split.txt"), "\n".join(splits))
  _write(
    os.path.join(root, "classes.txt"),
    "\n".join(f"{i} {name}" for i, name in CLASSES),
  )
  if with_boxes:
    _write(os.path.join(root, "bounding_boxes.txt"), "\n".join(boxes))
  return root, text_dir, stems


def _records(source):
  return list(source.records())


def test_records_carry_captions_labels_boxes_and_paths(tmp_path):
  _, _, stems = make_cub(str(tmp_path))
  source = cub.load_cub(str(tmp_path))
  records = _records(source)
  assert len(records) == len(CLASSES) * IMAGES_PER_CLASS
  assert source.num_images == len(records)
  assert source.class_names == tuple(name for _, name in CLASSES)
  first = records[0]
  assert first.example_id == stems[1]
  assert first.captions == tuple(f"caption {c} of bird 1" for c in range(10))
  assert first.label == 0 and first.class_name == "001.Black_footed_Albatross"
  assert first.box == (1.0, 2.0, 10.0, 12.5)
  assert os.path.isfile(first.image_path)
  assert first.embeddings is None
  assert [r.label for r in records] == [0, 0, 1, 1, 2, 2]


def test_class_disjoint_default_rule_is_ids_up_to_150_train(tmp_path):
  make_cub(str(tmp_path))
  source = cub.load_cub(str(tmp_path))
  splits = {r.class_name: r.split for r in _records(source)}
  assert splits == {
    "001.Black_footed_Albatross": "train",
    "002.Laysan_Albatross": "train",
    "151.Black_capped_Vireo": "test",
  }
  assert "1-150" in source.split_rule


def test_official_split_follows_train_test_split(tmp_path):
  make_cub(str(tmp_path))
  records = _records(cub.load_cub(str(tmp_path), split="official"))
  # make_cub marks the second image of each class (k = 1) as train.
  assert [r.split for r in records] == ["test", "train"] * len(CLASSES)


def test_test_classes_file_overrides_default(tmp_path):
  make_cub(str(tmp_path / "data"))
  class_list = tmp_path / "mytest.txt"
  class_list.write_text("002.Laysan_Albatross\n")
  records = _records(
    cub.load_cub(str(tmp_path / "data"), test_classes_file=str(class_list))
  )
  assert {r.class_name for r in records if r.split == "test"} == {
    "002.Laysan_Albatross"
  }


def test_reed_archive_beside_cub_is_found_with_its_class_list(tmp_path):
  reed = tmp_path / "cvpr2016_cub"
  make_cub(str(tmp_path), text_dir_parent=str(reed))
  (reed / "trainvalclasses.txt").write_text(
    "001.Black_footed_Albatross\n151.Black_capped_Vireo\n"
  )
  source = cub.load_cub(str(tmp_path))
  records = _records(source)
  assert len(records) == 6
  assert {r.class_name for r in records if r.split == "test"} == {
    "002.Laysan_Albatross"
  }
  assert "trainvalclasses.txt" in source.split_rule


def test_data_dir_may_be_the_cub_folder_with_captions_beside(tmp_path):
  root, _, _ = make_cub(str(tmp_path))
  assert len(_records(cub.load_cub(root))) == 6


def test_captions_may_sit_inside_the_cub_folder(tmp_path):
  make_cub(str(tmp_path), text_dir_parent=str(tmp_path / "CUB_200_2011"))
  assert len(_records(cub.load_cub(str(tmp_path)))) == 6


def test_bad_caption_files_are_reported_not_fatal(tmp_path):
  _, text_dir, stems = make_cub(str(tmp_path))
  os.remove(os.path.join(text_dir, stems[1] + ".txt"))
  _write(os.path.join(text_dir, stems[2] + ".txt"), "\n  \n")
  _write(os.path.join(text_dir, stems[3] + ".txt"), b"caf\xe9 bird\n", "wb")
  items = list(cub.load_cub(str(tmp_path)).items())
  issues = [i for i in items if isinstance(i, common.DataIssue)]
  assert [(i.reason, i.skips_example) for i in issues] == [
    (common.MISSING_CAPTION_FILE, True),
    (common.EMPTY_CAPTION_FILE, True),
    (common.CAPTION_NOT_UTF8, False),
  ]
  assert issues[0].path.endswith(stems[1] + ".txt")
  records = list(common.only_records(items))
  assert len(records) == 4
  assert records[0].captions == ("caf\ufffd bird",)


def test_missing_dir_is_a_one_line_error(tmp_path):
  with pytest.raises(common.LayoutError, match=r"--data_dir=.*does not exist"):
    cub.load_cub(str(tmp_path / "nope"))


def test_wrong_layout_names_what_was_expected(tmp_path):
  with pytest.raises(common.LayoutError) as e:
    cub.load_cub(str(tmp_path))
  message = str(e.value)
  assert "does not look like CUB-200-2011" in message
  assert "images.txt and images/" in message and "\n" not in message


def test_missing_captions_dir_is_an_error(tmp_path):
  root, text_dir, _ = make_cub(str(tmp_path))
  os.rename(text_dir, str(tmp_path / "elsewhere"))
  with pytest.raises(common.LayoutError, match="text_c10"):
    cub.load_cub(root)


def test_malformed_index_file_names_file_and_line(tmp_path):
  root, _, _ = make_cub(str(tmp_path))
  _write(os.path.join(root, "image_class_labels.txt"), "1 1\nbroken\n")
  with pytest.raises(
    common.LayoutError, match=r"image_class_labels.txt line 2"
  ):
    cub.load_cub(str(tmp_path))


def test_bad_split_and_unknown_listed_class_are_errors(tmp_path):
  make_cub(str(tmp_path))
  with pytest.raises(common.DatasetError, match="--split=random"):
    cub.load_cub(str(tmp_path), split="random")
  class_list = tmp_path / "list.txt"
  class_list.write_text("999.Dodo\n")
  with pytest.raises(common.LayoutError, match="999.Dodo"):
    cub.load_cub(str(tmp_path), test_classes_file=str(class_list))


@pytest.mark.parametrize(
  "box,size,expected",
  [
    # Centre (50, 50), half-side int(0.75 * 20) = 15.
    ((40, 40, 20, 20), (200, 200), (35, 35, 65, 65)),
    # Clipped at the top-left corner: centre (30, 30), half-side 30.
    ((10, 20, 40, 20), (100, 100), (0, 0, 60, 60)),
    # Clipped at the bottom-right: centre (95, 95), half-side 7.
    ((90, 90, 10, 10), (100, 100), (88, 88, 100, 100)),
    # Non-square image, tall box: half-side int(0.75 * 30) = 22.
    ((0, 5, 10, 30), (40, 30), (0, 0, 27, 30)),
    # A box outside the image, or of zero size, keeps the whole image.
    ((500, 500, 10, 10), (100, 80), (0, 0, 100, 80)),
    ((5, 5, 0, 0), (100, 80), (0, 0, 100, 80)),
  ],
)
def test_crop_box(box, size, expected):
  assert cub.cub_crop_box(box, *size) == expected


def _row(shape, colour, size, position, background):
  return dict(
    shape=shape,
    colour=colour,
    size=size,
    position=position,
    background=background,
  )


def _write_shapes_attributes(root, rows):
  with open(os.path.join(root, "images.txt")) as f:
    paths = [line.split()[1] for line in f if line.strip()]
  with open(os.path.join(root, "attributes.jsonl"), "w") as f:
    for path, row in zip(paths, rows):
      f.write(json.dumps(dict(row, path=path)) + "\n")
  return paths


def test_builtin_generated_layout_uses_official_split_and_no_boxes(tmp_path):
  make_cub(str(tmp_path), nested=False, ext=".png")
  row = dict(
    shape="cross",
    colour="white",
    size="small",
    position="top",
    background="gray",
  )
  _write_shapes_attributes(str(tmp_path), [row] * 6)
  source = shapes_loader.load_shapes(str(tmp_path))
  records = _records(source)
  assert len(records) == 6
  assert all(r.box is None for r in records)
  assert [r.split for r in records] == ["test", "train"] * 3
  assert records[0].image_path.endswith(".png")
  assert list(source.attributes) == [
    "shape",
    "colour",
    "size",
    "position",
    "background",
  ]
  assert records[0].attributes == (3, 7, 0, 3, 1)


def test_builtin_generated_layout_names_a_missing_or_bad_attributes_file(
  tmp_path,
):
  make_cub(str(tmp_path), nested=False, ext=".png")
  with pytest.raises(common.LayoutError, match="attributes.jsonl: missing"):
    shapes_loader.load_shapes(str(tmp_path))
  _write_shapes_attributes(str(tmp_path), [dict(shape="hexagon")] * 6)
  with pytest.raises(common.LayoutError, match="attributes.jsonl:1: not a"):
    shapes_loader.load_shapes(str(tmp_path))


def test_builtin_generated_layout_skips_an_image_without_attributes(tmp_path):
  make_cub(str(tmp_path), nested=False, ext=".png")
  row = dict(
    shape="circle",
    colour="red",
    size="large",
    position="left",
    background="black",
  )
  _write_shapes_attributes(str(tmp_path), [row] * 5)
  items = list(shapes_loader.load_shapes(str(tmp_path)).items())
  issues = [i for i in items if isinstance(i, common.DataIssue)]
  assert [i.reason for i in issues] == [common.MISSING_ATTRIBUTES]
  assert len(items) == 6


def test_builtin_generated_layout_rejects_a_nested_cub(tmp_path):
  make_cub(str(tmp_path))
  with pytest.raises(common.LayoutError, match="does not look like"):
    shapes_loader.load_shapes(str(tmp_path))
