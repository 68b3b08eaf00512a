"""End-to-end tests of tools/prepare_dataset.py, run as a script in a
subprocess from the repository root, on a tiny captioned folder.

Bad runs fail before TensorFlow is imported, so they take about a second.
"""

import json
import os

import numpy as np
from PIL import Image
import pytest

from tests import tool_runner


def make_folder(
  base, captions=("a red square", "a blue circle", "a tiny dot", None)
):
  """Writes one 24 x 24 PNG per entry; None means no caption file."""
  os.makedirs(base, exist_ok=True)
  for i, caption in enumerate(captions):
    pixels = np.full((24, 24, 3), 40 * i, np.uint8)
    Image.fromarray(pixels).save(os.path.join(base, f"im{i}.png"))
    if caption is not None:
      with open(os.path.join(base, f"im{i}.txt"), "w") as f:
        f.write(caption + "\n")
  return str(base)


def run_tool(*args):
  # Without PYTHONPATH: the tool finds the package by itself.
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  return tool_runner.run_tool("prepare_dataset.py", *args, env=env)


def test_good_run_writes_a_prepared_data_set(tmp_path):
  data = make_folder(tmp_path / "pics")
  out = tmp_path / "prepared"
  result = run_tool(
    "--dataset=folder",
    f"--data_dir={data}",
    f"--out_dir={out}",
    "--test_fraction=0",
    "--examples_per_shard=2",
  )
  assert result.returncode == 0, result.stderr
  assert "Traceback" not in result.stderr
  assert "3/4 images" in result.stderr or "4/4 images" in result.stderr
  assert "train: 3 images in 2 shard(s)" in result.stdout
  assert "test: 0 images" in result.stdout
  assert "Skipped 1 image(s):" in result.stdout
  assert "missing caption file: 1" in result.stdout
  with open(out / "metadata.json") as f:
    meta = json.load(f)
  assert meta["dataset"] == "folder"
  assert meta["num_examples"] == {"train": 3, "validation": 0, "test": 0}
  assert meta["skipped"] == {"missing_caption_file": 1}
  assert meta["options"]["test_fraction"] == 0.0
  assert (out / "vocab.txt").is_file()
  assert (out / "train-00001-of-00002.tfrecord").is_file()


@pytest.mark.parametrize(
  "args,message",
  [
    (
      ["--dataset=folder", "--data_dir={tmp}/nowhere"],
      "--data_dir={tmp}/nowhere does not exist",
    ),
    (["--dataset=coco", "--data_dir={data}"], "--dataset=coco"),
    (
      ["--dataset=cub", "--data_dir={data}"],
      "does not look like CUB-200-2011: expected images.txt and images/",
    ),
    (
      ["--dataset=folder", "--data_dir={data}", "--split=official"],
      "--split does not apply to --dataset=folder",
    ),
    (
      ["--dataset=folder", "--data_dir={data}", "--strict"],
      "--strict: missing caption file: {data}/im3.txt",
    ),
    (
      [
        "--dataset=folder",
        "--data_dir={data}",
        "--num_shards=2",
        "--examples_per_shard=3",
      ],
      "cannot both be set",
    ),
    (
      ["--dataset=folder", "--data_dir={data}", "--test_fraction=2"],
      "--test_fraction",
    ),
    (["--data_dir={data}"], "--dataset"),
  ],
)
def test_bad_runs_fail_with_one_line_and_no_traceback(tmp_path, args, message):
  data = make_folder(tmp_path / "pics", captions=("a", "b", "c", None))
  fill = {"tmp": str(tmp_path), "data": data}
  args = [a.format(**fill) for a in args]
  if not any(a.startswith("--out_dir") for a in args):
    args.append(f"--out_dir={tmp_path / 'out'}")
  result = run_tool(*args)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  last_line = result.stderr.strip().splitlines()[-1]
  assert last_line.startswith("prepare_dataset: error: ")
  assert message.format(**fill) in last_line
  assert not os.path.exists(tmp_path / "out")
