"""What a work dir's helpers report."""

from sdn_tf.training import workdir as workdir_lib


def test_changed_settings_names_each_difference():
  cached = {"image_size": 64, "seed": 0, "precision": "float32"}
  current = {"image_size": 64, "seed": 1, "precision": "mixed_bfloat16"}
  assert workdir_lib.changed_settings(cached, current) == (
    "--seed: cached 0, now 1, --precision: cached float32, now mixed_bfloat16"
  )
  assert workdir_lib.changed_settings(cached, dict(cached)) == ""
  assert workdir_lib.changed_settings({}, {"seed": 0}) == (
    "--seed: cached None, now 0"
  )
