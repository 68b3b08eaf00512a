"""Tests for sdn_tf.config and the flags sdn_tf.cli derives: flagfiles, validation, errors.

Flag parsing runs in a fresh Python process per case, so that absl's global
FLAGS never carries values from one case into another (or into other test
files). Flagfiles name each other relative to the repository root, so the
processes run there.
"""

import dataclasses
import json
import pathlib
import subprocess
import sys

from absl import flags
import pytest

from sdn_tf import cli
from sdn_tf import config as config_lib
from sdn_tf.config import Config
from sdn_tf.config import ConfigError
from sdn_tf.models import vgg_spec

ROOT = pathlib.Path(__file__).absolute().parent.parent
FLAGFILES = sorted(
  p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").glob("*.cfg")
)

# Parses argv with the project's flags; prints the Config as JSON, or the
# error's class and message.
_PARSE = """
import json, sys
from sdn_tf import config as config_lib
from sdn_tf import cli
cli.define_config_flags()
try:
  cli.FLAGS(["prog"] + sys.argv[1:])
  print(cli.config_from_flags().to_json())
except Exception as e:
  print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def _parse(*args):
  result = subprocess.run(
    [sys.executable, "-c", _PARSE, *args],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode == 0, result.stderr
  return json.loads(result.stdout)


def _flag_lines(path):
  """(name, value) of the --name=value lines of one flagfile, in order."""
  lines = []
  for line in (ROOT / path).read_text().splitlines():
    line = line.strip()
    if not line.startswith("--") or line.startswith("--flagfile"):
      continue
    name, _, value = line[2:].partition("=")
    lines.append((name, value))
  return lines


def _as_type(field, text):
  if field.type in (bool, "bool"):
    return text.lower() in ("", "true", "1")
  return {int: int, "int": int, float: float, "float": float}.get(
    field.type, str
  )(text)


def test_every_field_is_a_flag_of_its_type():
  # Defining (not parsing) on the global FLAGS is idempotent and harmless.
  cli.define_config_flags()
  cli.define_config_flags()
  for field in dataclasses.fields(Config):
    flag = cli.FLAGS[field.name]
    assert flag.default == field.default, field.name
    assert flag.help.endswith(field.metadata["help"]), field.name
    if field.metadata["choices"]:
      assert isinstance(flag, flags.EnumFlag), field.name
      assert list(flag.parser.enum_values) == list(field.metadata["choices"])
    elif field.type is bool:
      assert isinstance(flag, flags.BooleanFlag), field.name
    else:
      assert isinstance(flag.default, field.type), field.name


def test_there_are_flagfiles():
  assert "configs/base.cfg" in FLAGFILES
  assert len(FLAGFILES) >= 2


@pytest.mark.parametrize("flagfile", FLAGFILES)
def test_flagfile_gives_a_valid_config(flagfile):
  values = _parse(f"--flagfile={flagfile}")
  assert "error" not in values, values
  config = Config(**values)  # validates again
  fields = {f.name: f for f in dataclasses.fields(Config)}
  assert set(values) == set(fields)
  # What the file itself says wins over what it includes.
  for name, text in _flag_lines(flagfile):
    if name.startswith("no") and name[2:] in fields and not text:
      name, text = name[2:], "false"
    assert name in fields, f"{flagfile}: unknown flag --{name}"
    assert getattr(config, name) == _as_type(fields[name], text), name


def test_including_flagfile_overrides_base():
  base = _parse("--flagfile=configs/base.cfg")
  smoke = _parse("--flagfile=configs/shapes_smoke.cfg")
  assert base["log_every"] == 20
  assert smoke["log_every"] == 2
  # Set by base only, inherited.
  assert smoke["keep_checkpoints"] == 3
  assert smoke["precision"] == base["precision"] == "auto"
  # The command line overrides both.
  again = _parse("--flagfile=configs/shapes_smoke.cfg", "--log_every=7")
  assert again["log_every"] == 7


def test_no_flags_give_the_defaults():
  assert _parse() == json.loads(Config().to_json())


@pytest.mark.parametrize(
  "args,flag",
  [
    (["--image_size=65"], "--image_size"),
    (["--point_weights=block9=1"], "--point_weights"),
    (["--conditional_norm"], "--conditional_norm"),
    (["--noise_dim=0", "--num_diverse_samples=3"], "--num_diverse_samples"),
    (["--text_encoder=hub"], "--hub_handle"),
    (["--batch_size=0"], "--batch_size"),
    (["--stage1_points=block1,fc7"], "--stage1_points"),
  ],
)
def test_bad_flag_values_give_config_errors(args, flag):
  result = _parse(*args)
  assert result.get("error") == "ConfigError", result
  assert result["message"].startswith(flag + ":"), result


@pytest.mark.parametrize(
  "args,flag",
  [
    (["--distance=l3"], "--distance"),
    (["--normalization=layer"], "--normalization"),
    (["--image_size=big"], "--image_size"),
  ],
)
def test_bad_flag_syntax_gives_flag_errors(args, flag):
  result = _parse(*args)
  assert result.get("error") == "IllegalFlagValueError", result
  assert flag in result["message"], result


@pytest.mark.parametrize(
  "kwargs,flag",
  [
    (dict(image_size=65), "image_size"),
    (dict(image_size=16), "image_size"),
    (dict(point_weights="block9=1"), "point_weights"),
    (dict(point_weights="input"), "point_weights"),
    (dict(point_weights="input=heavy"), "point_weights"),
    (dict(point_weights="input=-1"), "point_weights"),
    (dict(point_weights="input=nan"), "point_weights"),
    (dict(point_distances="input=l3"), "point_distances"),
    (dict(freeze_text_encoder=True), "freeze_text_encoder"),
    (dict(text_embedding_std=0.1), "text_embedding_std"),
    (
      dict(text_pretrain_steps=5, text_embedding_std=-0.1),
      "text_embedding_std",
    ),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(stage2_learning_rate=float("inf")), "stage2_learning_rate"),
    (dict(stage2_learning_rate=-1e-4), "stage2_learning_rate"),
    (
      dict(text_encoder="precomputed", text_pretrain_steps=5),
      "text_pretrain_steps",
    ),
    (dict(point_distances="block9=l2"), "point_distances"),
    (dict(point_distances="l2"), "point_distances"),
    (dict(normalization="none", conditional_norm=True), "conditional_norm"),
    (dict(num_diverse_samples=2), "num_diverse_samples"),
    (dict(num_diverse_samples=0), "num_diverse_samples"),
    (dict(text_encoder="hub"), "hub_handle"),
    (
      dict(text_encoder="precomputed", text_architecture="bag_of_words"),
      "text_architecture",
    ),
    (dict(text_architecture="transformer"), "text_architecture"),
    (dict(distance="l3"), "distance"),
    (dict(strategy="parameter_server"), "strategy"),
    (dict(stage2_points=""), "stage2_points"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(noise_dim=-1), "noise_dim"),
    (dict(stage2_epochs=-1.0), "stage2_epochs"),
    (dict(strategy="tpu", precision="mixed_float16"), "precision"),
    (dict(teacher_weights=""), "teacher_weights"),
  ],
)
def test_config_errors_name_the_flag(kwargs, flag):
  with pytest.raises(ConfigError) as info:
    Config(**kwargs)
  assert info.value.name == flag
  assert str(info.value).startswith(f"--{flag}: ")
  assert isinstance(info.value, ValueError)


def test_valid_combinations():
  Config(noise_dim=4, num_diverse_samples=3)
  Config(normalization="instance", conditional_norm=True)
  Config(text_encoder="hub", hub_handle="/models/nnlm")
  Config(text_architecture="bag_of_words")
  Config(teacher_weights="/some/where/vgg19.weights.h5")
  Config(point_weights="input=0,block5=2.5")
  Config(image_size=224)


def test_config_is_immutable_and_replace_validates():
  config = Config()
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.image_size = 128
  assert dataclasses.replace(config, image_size=128).image_size == 128
  with pytest.raises(ConfigError):
    dataclasses.replace(config, image_size=100)


def test_to_json_round_trip():
  config = Config(image_size=32, noise_dim=3, num_diverse_samples=2)
  assert Config(**json.loads(config.to_json())) == config


def test_point_names_properties():
  config = Config(stage1_points="block1,input", stage2_points="all")
  assert config.stage1_point_names == (
    "input",
    "block1_conv1",
    "block1_conv2",
    "block1_pool",
  )
  assert config.stage2_point_names == vgg_spec.POINT_NAMES


def test_parse_point_weights_by_hand():
  assert config_lib.parse_point_weights("") == {}
  assert config_lib.parse_point_weights(" , ") == {}
  assert config_lib.parse_point_weights("input=10, block1_pool=0.5") == {
    "input": 10.0,
    "block1_pool": 0.5,
  }
  assert config_lib.parse_point_weights("block2=3") == {
    "block2_conv1": 3.0,
    "block2_conv2": 3.0,
    "block2_pool": 3.0,
  }
  # Later items override earlier ones.
  assert config_lib.parse_point_weights("block2=3,block2_pool=0") == {
    "block2_conv1": 3.0,
    "block2_conv2": 3.0,
    "block2_pool": 0.0,
  }
  weights = config_lib.parse_point_weights("all=2")
  assert weights == {name: 2.0 for name in vgg_spec.POINT_NAMES}


def test_weights_for_by_hand():
  config = Config(point_weights="block1=0.5,input=10,block5_pool=3")
  assert config.weights_for(["input", "block1_conv2", "block3_pool"]) == {
    "input": 10.0,
    "block1_conv2": 0.5,
    "block3_pool": 1.0,
  }
  # Weights of points that are not used are ignored.
  assert config.weights_for(["block4_conv1"]) == {"block4_conv1": 1.0}
  assert Config().weights_for(vgg_spec.POINT_NAMES) == {
    name: 1.0 for name in vgg_spec.POINT_NAMES
  }
  weights = config.weights_for(config.stage1_point_names)
  assert list(weights) == list(vgg_spec.POINT_NAMES)
  assert sum(weights.values()) == 22 - 5 + 10 + 3 * 0.5 + 3


def test_distances_for_by_hand():
  config = Config(distance="l1", point_distances="input=l2, block5=l2")
  assert config.distances_for(["input", "block1_conv1", "block5_pool"]) == {
    "input": "l2",
    "block1_conv1": "l1",
    "block5_pool": "l2",
  }
  assert Config(distance="l2").distances_for(["input"]) == {"input": "l2"}


def test_every_field_has_help_and_a_valid_default():
  for field in dataclasses.fields(Config):
    assert field.metadata["help"], field.name
    choices = field.metadata["choices"]
    if choices:
      assert field.default in choices, field.name


def test_train_rejects_a_bad_image_size_in_one_line():
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "sdn_tf.train",
      "--image_size=65",
      "--workdir=/nonexistent/never_created",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if "--image_size" in l]
  assert len(errors) == 1, result.stderr
  assert errors[0].startswith("error: --image_size: ")
  assert "multiple of 32" in errors[0]
  assert not pathlib.Path("/nonexistent/never_created").exists()


def test_train_rejects_a_bad_enum_value():
  result = subprocess.run(
    [sys.executable, "-m", "sdn_tf.train", "--distance=l3"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  assert "--distance=l3" in result.stderr
