"""The one rule for reusing what an earlier run made."""

from sdn_tf.utils import recorded_settings


def test_names_each_difference_in_the_current_order():
  cached = {"image_size": 64, "seed": 0, "precision": "float32"}
  current = {"image_size": 64, "seed": 1, "precision": "mixed_bfloat16"}
  assert recorded_settings.differences(cached, current) == (
    "--seed: cached 0, now 1, --precision: cached float32, now mixed_bfloat16"
  )


def test_nothing_when_all_match_and_none_when_unrecorded():
  cached = {"image_size": 64, "seed": 0}
  assert recorded_settings.differences(cached, dict(cached)) == ""
  assert recorded_settings.differences({}, {"seed": 0}) == (
    "--seed: cached None, now 0"
  )
