"""sdn_tf.utils.files on a local folder and on TensorFlow's ram:// file
system, the stand-in for the gs:// buckets users train from."""

import os
import subprocess
import sys
import uuid

import pytest
import tensorflow as tf

from sdn_tf.utils import files

REPO_ROOT = os.path.dirname(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


@pytest.fixture(params=["local", "ram"])
def root(request, tmp_path):
  if request.param == "local":
    return str(tmp_path)
  path = f"ram://test_files/{uuid.uuid4().hex}"
  files.makedirs(path)
  return path


def test_text_and_json_round_trip_and_replace_the_old_file(root):
  path = files.join(root, "a.json")
  files.write_json(path, {"caption": "ein rötlicher Kreis"})
  files.write_json(path, {"caption": "a red circle"})
  assert files.read_json(path) == {"caption": "a red circle"}
  assert files.listdir(root) == ["a.json"]  # no .partial left
  files.write_atomically(files.join(root, "b.txt"), b"\xff caption\n")
  assert files.read_text(files.join(root, "b.txt"), "replace") == (
    "\ufffd caption\n"
  )


def test_missing_paths_raise_file_not_found_and_deletes_tolerate_them(root):
  missing = files.join(root, "nope")
  with pytest.raises(FileNotFoundError, match="nope"):
    files.read_bytes(missing)
  assert not files.exists(missing) and not files.isfile(missing)
  files.remove(missing)
  files.rmtree(missing)


def test_listdir_walk_and_rmtree(root):
  files.makedirs(files.join(root, "d", "e"))
  files.write_atomically(files.join(root, "d", "z.txt"), "z")
  files.write_atomically(files.join(root, "d", "e", "y.txt"), "y")
  assert files.listdir(files.join(root, "d")) == ["e", "z.txt"]
  assert files.isdir(files.join(root, "d", "e"))
  assert files.isfile(files.join(root, "d", "z.txt"))
  walked = {
    os.path.relpath(folder, root) if files.is_local(root) else folder: names
    for folder, _, names in files.walk(files.join(root, "d"))
  }
  assert sorted(sum(walked.values(), [])) == ["y.txt", "z.txt"]
  files.rmtree(files.join(root, "d"))
  assert files.listdir(root) == []


def test_move_dir_moves_every_file_and_never_replaces_a_target(root):
  source = files.join(root, ".partial")
  files.makedirs(files.join(source, "variables"))
  files.write_atomically(files.join(source, "saved_model.pb"), "pb")
  files.write_atomically(files.join(source, "variables", "v.index"), "ix")
  files.move_dir(source, files.join(root, "1"), last=["saved_model.pb"])
  assert files.listdir(root) == ["1"]
  assert files.read_text(files.join(root, "1", "variables", "v.index")) == "ix"
  assert files.read_text(files.join(root, "1", "saved_model.pb")) == "pb"
  files.makedirs(source)
  files.write_atomically(files.join(source, "other"), "x")
  with pytest.raises(FileExistsError):
    files.move_dir(source, files.join(root, "1"))
  assert files.listdir(files.join(root, "1")) == ["saved_model.pb", "variables"]


def test_move_dir_copies_the_named_files_last_where_it_must_copy(monkeypatch):
  # ram:// cannot rename a directory, so the tree is copied; a reader that
  # waits for saved_model.pb must find everything else already there.
  root = f"ram://test_files/{uuid.uuid4().hex}"
  for name in ("saved_model.pb", "a", "variables/b", "variables/c"):
    files.makedirs(files.split(files.join(root, "src", name))[0])
    files.write_atomically(files.join(root, "src", name), name)
  copied = []
  real_copy = tf.io.gfile.copy

  def recording_copy(source, target, overwrite=False):
    copied.append(files.split(target)[1])
    real_copy(source, target, overwrite)

  monkeypatch.setattr(tf.io.gfile, "copy", recording_copy)
  files.move_dir(
    files.join(root, "src"), files.join(root, "dst"), last=["saved_model.pb"]
  )
  assert sorted(copied) == ["a", "b", "c", "saved_model.pb"]
  assert copied[-1] == "saved_model.pb"
  assert not files.exists(files.join(root, "src"))


def test_urls_are_left_as_they_are():
  assert files.absolute("gs://bucket/data") == "gs://bucket/data"
  assert files.absolute("data") == os.path.join(os.getcwd(), "data")
  assert files.split("gs://bucket/runs/1/") == ("gs://bucket/runs", "1")
  assert files.split("gs://bucket") == ("gs://", "bucket")
  assert files.join("gs://bucket", "runs", "1") == "gs://bucket/runs/1"
  assert files.is_local("/tmp/x") and files.is_local("file:///tmp/x")
  assert not files.is_local("ram://x")


def test_local_paths_do_not_load_tensorflow():
  # Command lines check their path flags before TensorFlow's seconds of
  # import; a usage error must come back at once.
  code = (
    "import sys; from sdn_tf.utils import files; "
    "files.exists('/tmp'); files.isdir('/tmp'); files.listdir('/tmp'); "
    "files.join('/tmp', 'x'); print('tensorflow' in sys.modules)"
  )
  result = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    check=True,
  )
  assert result.stdout.strip() == "False"
