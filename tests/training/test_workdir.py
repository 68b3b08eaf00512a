"""What a work dir's helpers report."""

import json
import os

import pytest

from sdn_tf.config import Config
from sdn_tf.training import workdir as workdir_lib


def _recorded(workdir, **overrides):
  config = Config(**overrides)
  workdir_lib.write_config(str(workdir), config)
  return config


def test_no_config_json_no_changes(tmp_path):
  assert workdir_lib.check_config_change(str(tmp_path), Config()) == {}


def test_run_settings_may_change_and_are_reported(tmp_path):
  _recorded(tmp_path, stage2_steps=30, log_every=20)
  now = Config(stage2_steps=60, log_every=5, on_non_finite="skip")
  assert workdir_lib.check_config_change(str(tmp_path), now) == {
    "stage2_steps": (30, 60),
    "log_every": (20, 5),
    "on_non_finite": ("stop", "skip"),
  }


def test_a_model_shaping_change_is_refused_naming_each_flag(tmp_path):
  _recorded(tmp_path, fc_units=1024, image_size=64)
  now = Config(fc_units=512, image_size=128, stage1_steps=5)
  with pytest.raises(workdir_lib.ConfigChangedError) as error:
    workdir_lib.check_config_change(str(tmp_path), now)
  message = str(error.value)
  assert "--fc_units: 1024 there, 512 now" in message
  assert "--image_size: 64 there, 128 now" in message
  assert "stage1_steps" not in message
  assert "--allow_config_change" in message
  assert "\n" not in message


def test_allow_config_change_goes_on_with_the_new_flags(tmp_path):
  _recorded(tmp_path, fc_units=1024)
  now = Config(fc_units=512, allow_config_change=True)
  changes = workdir_lib.check_config_change(str(tmp_path), now)
  assert changes["fc_units"] == (1024, 512)


def test_an_option_newer_than_the_work_dir_counts_as_its_default(tmp_path):
  config = _recorded(tmp_path)
  with open(workdir_lib.config_path(str(tmp_path))) as f:
    values = json.load(f)
  del values["text_augmentation"]
  with open(workdir_lib.config_path(str(tmp_path)), "w") as f:
    json.dump(values, f)
  assert workdir_lib.check_config_change(str(tmp_path), config) == {}
  with pytest.raises(workdir_lib.ConfigChangedError, match="text_augmentation"):
    workdir_lib.check_config_change(
      str(tmp_path), Config(text_augmentation=0.5)
    )


def test_config_json_is_replaced_whole(tmp_path):
  _recorded(tmp_path, seed=3)
  _recorded(tmp_path, seed=4)
  assert os.listdir(tmp_path) == [workdir_lib.CONFIG_FILE]
  assert workdir_lib.read_config(str(tmp_path)).seed == 4


def test_only_checkpoints_cut_short_are_removed(tmp_path):
  folder = tmp_path / "checkpoints"
  unfinished = folder / "ckpt-7_temp"
  unfinished.mkdir(parents=True)
  (unfinished / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"w")
  kept = ["ckpt-6.index", "ckpt-6.data-00000-of-00001", "checkpoint"]
  for name in kept:
    (folder / name).write_bytes(b"x")
  removed = workdir_lib.remove_unfinished_checkpoints(str(tmp_path))
  assert removed == [str(unfinished)]
  assert sorted(os.listdir(folder)) == sorted(kept)
  assert workdir_lib.remove_unfinished_checkpoints(str(tmp_path)) == []
  assert workdir_lib.remove_unfinished_checkpoints(str(tmp_path / "new")) == []
