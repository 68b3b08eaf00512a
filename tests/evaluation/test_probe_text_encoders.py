"""tools/probe_text_encoders.py run as a user runs it, on tiny shapes."""

import json

import keras
import pytest

from sdn_tf.data import preparation
from sdn_tf.models import teacher as teacher_lib
from tests.tiny_shapes import shapes_config
from tests.tool_runner import run_tool

_SIZE = 32


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  root = tmp_path_factory.mktemp("probe")
  config = shapes_config(root, shapes_num_train=200, image_size=_SIZE)
  preparation.ensure_prepared(config)
  keras.utils.set_random_seed(0)
  teacher = str(root / "teacher.weights.h5")
  teacher_lib.build_vgg19(_SIZE).save_weights(teacher)
  flags = [
    "--dataset=shapes",
    f"--raw_data_dir={config.raw_data_dir}",
    f"--data_dir={config.data_dir}",
    "--shapes_num_train=200",
    "--shapes_num_test=32",
    f"--image_size={_SIZE}",
    "--embedding_dim=16",
    "--text_pretrain_steps=20",
    "--text_pretrain_images=64",
    "--text_pretrain_point=block3_pool",
    "--probe_captions=150",
    f"--teacher={teacher}",
  ]
  return root, flags


def test_every_architecture_is_aligned_and_probed(prepared):
  root, flags = prepared
  out = root / "probe.json"
  result = run_tool("probe_text_encoders.py", *flags, f"--out={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  printed = json.loads(result.stdout.strip().splitlines()[-1])
  assert json.loads(out.read_text()) == printed
  assert printed["hold_out"] == [
    "circle:green",
    "cross:white",
    "square:red",
    "triangle:blue",
  ]
  for architecture in ("cnn_rnn", "bag_of_words"):
    row = printed[architecture]
    assert row["seconds"] > 0 and row["final_loss"] > 0
    template = row["template"]
    seen, held = template["captions"]
    assert seen > 0
    for attribute in ("shape", "colour", "size", "position", "background"):
      accuracy = template[attribute][0]
      assert accuracy is None or 0.0 <= accuracy <= 1.0
    assert "probe accuracy" in result.stdout


@pytest.mark.parametrize(
  "flag,message",
  [
    ("--hold_out=circle:black", "--hold_out: 'circle:black'"),
    ("--architectures=transformer", "--architectures: no 'transformer'"),
  ],
)
def test_bad_flags_are_one_line_errors(prepared, flag, message):
  _, flags = prepared
  result = run_tool("probe_text_encoders.py", *flags, flag)
  assert result.returncode == 2, result.stderr[-3000:]
  assert message in result.stderr
  assert "Traceback" not in result.stderr
