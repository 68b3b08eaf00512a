"""Tests for the StackGAN pickle loader on tiny birds/flowers layouts.

`filenames.pickle` is written byte for byte as Python 2's cPickle (protocol
2) writes a list of `str`: SHORT_BINSTRING opcodes holding raw bytes, which
Python 3 can only read with an `encoding`. One bird class name holds a
latin-1 byte, so reading it with the default ASCII encoding would fail.
"""

import os
import pickle

import numpy as np
from PIL import Image
import pytest

from sdn_tf.data import loader_common as common
from sdn_tf.data import stackgan

EMBEDDING_SHAPE = (10, 16)  # captions per image, dim (StackGAN: 10 x 1024)
BIRDS = {
  "train": [
    ("001.Caf\xe9_Bird/Cafe_Bird_0001", 1),
    ("001.Caf\xe9_Bird/Cafe_Bird_0002", 1),
    ("002.Laysan_Albatross/Laysan_Albatross_0002_1027", 2),
  ],
  "test": [("160.Black_throated_Blue_Warbler/Warbler_0001", 160)],
}
FLOWERS = {
  "train": [
    ("jpg/image_00001", 5),
    ("jpg/image_00002", 5),
    ("jpg/image_00003", 9),
  ],
  "test": [("jpg/image_00004", 77)],
}


def py2_pickle_of_str_list(names):
  """What Python 2 writes for cPickle.dump([str, ...], f, 2)."""
  out = bytearray(b"\x80\x02]q\x00(")
  for name in names:
    data = name.encode("latin-1")
    out += b"U" + bytes([len(data)]) + data
  return bytes(out + b"e.")


def _save_image(path, seed):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, 255, (24, 24, 3), np.uint8)
  Image.fromarray(pixels).save(path, format="JPEG")


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)


def make_pickles(base, entries, embeddings=True):
  for split, rows in entries.items():
    split_dir = os.path.join(base, split)
    os.makedirs(split_dir)
    with open(os.path.join(split_dir, "filenames.pickle"), "wb") as f:
      f.write(py2_pickle_of_str_list([name for name, _ in rows]))
    with open(os.path.join(split_dir, "class_info.pickle"), "wb") as f:
      pickle.dump([class_id for _, class_id in rows], f, protocol=2)
    if embeddings:
      values = np.arange(
        len(rows) * np.prod(EMBEDDING_SHAPE), dtype=np.float32
      ).reshape((len(rows),) + EMBEDDING_SHAPE)
      with open(os.path.join(split_dir, stackgan.EMBEDDINGS), "wb") as f:
        pickle.dump(values, f, protocol=2)


def make_birds(base, text_dir="text_c10", embeddings=True):
  make_pickles(base, BIRDS, embeddings)
  cub_dir = os.path.join(base, "CUB_200_2011")
  index, boxes = [], []
  for i, (name, _) in enumerate(BIRDS["train"] + BIRDS["test"], start=1):
    _save_image(os.path.join(cub_dir, "images", name + ".jpg"), i)
    _write(
      os.path.join(base, text_dir, name + ".txt"),
      "".join(f"bird {i} caption {c}\n" for c in range(10)),
    )
    index.append(f"{i} {name}.jpg")
    boxes.append(f"{i} {i}.0 1.0 5.0 6.0")
  _write(os.path.join(cub_dir, "images.txt"), "\n".join(index))
  _write(os.path.join(cub_dir, "bounding_boxes.txt"), "\n".join(boxes))


def make_flowers(base):
  make_pickles(base, FLOWERS)
  for i, (name, class_id) in enumerate(FLOWERS["train"] + FLOWERS["test"]):
    _save_image(os.path.join(base, name + ".jpg"), i)
    _write(
      os.path.join(
        base,
        "text_c10",
        f"class_{class_id:05d}",
        os.path.basename(name) + ".txt",
      ),
      "".join(f"flower {i} caption {c}\n" for c in range(10)),
    )


def test_python2_pickles_need_latin1(tmp_path):
  make_birds(str(tmp_path))
  path = tmp_path / "train" / "filenames.pickle"
  with pytest.raises(UnicodeDecodeError):
    pickle.loads(path.read_bytes())
  assert (
    pickle.loads(path.read_bytes(), encoding="latin1")[0]
    == (BIRDS["train"][0][0])
  )


def test_birds_records(tmp_path):
  make_birds(str(tmp_path))
  source = stackgan.load_stackgan(str(tmp_path))
  records = list(source.records())
  assert source.class_names == (
    "001.Caf\xe9_Bird",
    "002.Laysan_Albatross",
    "160.Black_throated_Blue_Warbler",
  )
  assert [r.example_id for r in records] == [
    n for n, _ in BIRDS["train"] + BIRDS["test"]
  ]
  assert [r.label for r in records] == [0, 0, 1, 2]
  assert [r.split for r in records] == ["train"] * 3 + ["test"]
  assert records[3].captions == tuple(f"bird 4 caption {c}" for c in range(10))
  assert records[1].box == (2.0, 1.0, 5.0, 6.0)
  assert all(os.path.isfile(r.image_path) for r in records)


def test_embeddings_are_attached_per_image(tmp_path):
  make_birds(str(tmp_path))
  source = stackgan.load_stackgan(str(tmp_path))
  records = list(source.records())
  assert records[0].embeddings.shape == EMBEDDING_SHAPE
  assert records[0].embeddings.dtype == np.float32
  # The second train image owns the second block of the pickled array.
  assert records[1].embeddings[0, 0] == np.prod(EMBEDDING_SHAPE)
  assert records[3].embeddings[0, 0] == 0.0  # first of the test pickle
  assert source.options["embedding_dim"] == EMBEDDING_SHAPE[1]


def test_caption_and_embedding_counts_are_paired(tmp_path):
  make_birds(str(tmp_path))
  # Three caption lines against ten embedding rows: keep three of each.
  (tmp_path / "text_c10" / (BIRDS["test"][0][0] + ".txt")).write_text(
    "one\ntwo\nthree\n"
  )
  items = list(stackgan.load_stackgan(str(tmp_path)).items())
  issues = [i for i in items if isinstance(i, common.DataIssue)]
  assert [(i.reason, i.skips_example) for i in issues] == [
    (common.CAPTION_EMBEDDING_MISMATCH, False)
  ]
  last = list(common.only_records(items))[-1]
  assert last.captions == ("one", "two", "three")
  assert last.embeddings.shape == (3, EMBEDDING_SHAPE[1])
  assert last.embeddings[0, 0] == 0.0


def test_flowers_layout_remaps_class_ids(tmp_path):
  make_flowers(str(tmp_path))
  source = stackgan.load_stackgan(str(tmp_path))
  records = list(source.records())
  assert source.class_names == ("class_00005", "class_00009", "class_00077")
  assert [r.label for r in records] == [0, 0, 1, 2]
  assert records[2].captions[0] == "flower 2 caption 0"
  assert records[2].embeddings.shape == EMBEDDING_SHAPE
  assert records[0].image_path == str(tmp_path / "jpg" / "image_00001.jpg")
  assert records[0].box is None


def test_attngan_text_folder_without_embeddings(tmp_path):
  make_birds(str(tmp_path), text_dir="text", embeddings=False)
  records = list(stackgan.load_stackgan(str(tmp_path)).records())
  assert len(records) == 4
  assert all(r.embeddings is None for r in records)


def test_missing_caption_file_is_reported(tmp_path):
  make_birds(str(tmp_path))
  os.remove(tmp_path / "text_c10" / (BIRDS["test"][0][0] + ".txt"))
  issues = [
    i
    for i in stackgan.load_stackgan(str(tmp_path)).items()
    if isinstance(i, common.DataIssue)
  ]
  assert [i.reason for i in issues] == [common.MISSING_CAPTION_FILE]


def test_layout_errors(tmp_path):
  with pytest.raises(
    common.LayoutError,
    match=r"does not look like StackGAN's preprocessed data: "
    r"expected train/filenames.pickle",
  ):
    stackgan.load_stackgan(str(tmp_path))
  make_birds(str(tmp_path / "birds"))
  with open(tmp_path / "birds" / "test" / "class_info.pickle", "wb") as f:
    pickle.dump([1, 2], f, protocol=2)
  with pytest.raises(
    common.LayoutError,
    match=r"test/class_info.pickle has 2 "
    r"entries but filenames.pickle beside it has 1",
  ):
    stackgan.load_stackgan(str(tmp_path / "birds"))


def test_unreadable_pickle_and_missing_images(tmp_path):
  make_birds(str(tmp_path))
  (tmp_path / "train" / stackgan.EMBEDDINGS).write_bytes(b"not a pickle")
  with pytest.raises(common.LayoutError, match="cannot read .*embeddings"):
    stackgan.load_stackgan(str(tmp_path))
  empty = tmp_path / "only_pickles"
  make_pickles(str(empty), BIRDS)
  with pytest.raises(common.LayoutError, match="no image found for"):
    stackgan.load_stackgan(str(empty))
