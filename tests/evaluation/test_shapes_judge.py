"""Tests for the analytic judge of drawn shapes (sdn_tf/evaluation)."""

import numpy as np
import pytest

from sdn_tf.data import shapes
from sdn_tf.evaluation import shapes_judge


def _examples(image_size, count=96, seed=5):
  return [
    shapes.generate_example(seed, "test", i, image_size) for i in range(count)
  ]


@pytest.mark.parametrize("image_size", [64, 128])
def test_real_images_are_judged_right_on_every_attribute(image_size):
  for example in _examples(image_size):
    seen = shapes_judge.judge_image(example.image)
    for attribute in shapes_judge.ATTRIBUTES:
      assert seen.get(attribute) == getattr(example.attrs, attribute), (
        example.name,
        attribute,
      )


def test_every_caption_parses_back_to_what_it_names():
  for example in _examples(64, count=64):
    for caption, template_id in zip(example.captions, example.template_ids):
      named = shapes_judge.parse_caption(caption)
      template = shapes.CAPTION_TEMPLATES[template_id]
      assert named["colour"] == example.attrs.colour
      for attribute, slot in (("size", "{size}"), ("position", "{pos}")):
        if slot in template:
          assert named[attribute] == getattr(example.attrs, attribute)
        else:
          assert attribute not in named, caption
      if "{bg}" in template or "{bgn}" in template:
        assert named["background"] == example.attrs.background
      else:
        assert "background" not in named, caption


def test_parse_caption_by_hand():
  assert shapes_judge.parse_caption(
    "on the left side there is a tiny red circle over a black background"
  ) == {
    "colour": "red",
    "size": "small",
    "position": "left",
    "background": "black",
  }
  assert shapes_judge.parse_caption("a blue square") == {"colour": "blue"}
  # Two colours: ambiguous, so colour is not scored.
  assert shapes_judge.parse_caption("a red or blue circle") == {}


def test_blank_image_shows_only_its_background():
  image = np.full((64, 64, 3), 110, np.uint8)
  assert shapes_judge.judge_image(image) == shapes_judge.Judgement(
    "gray", None, None, None
  )
  report = shapes_judge.judge(["a large red circle on the left"], [image])
  assert report.no_object == 1
  assert report.correct == {
    "background": 0,
    "colour": 0,
    "position": 0,
    "size": 0,
  }
  assert report.named == {
    "background": 0,
    "colour": 1,
    "position": 1,
    "size": 1,
  }
  assert report.all_right == 0
  assert report.object_right == 0


def test_object_attributes_are_counted_apart_from_the_background():
  example = next(e for e in _examples(64) if e.attrs.position == "top")
  attrs = example.attrs
  other_bg = next(b for b in shapes.BACKGROUNDS if b != attrs.background)
  caption = (
    f"a {attrs.size} {attrs.colour} {attrs.shape} at the top on a "
    f"{other_bg} background"
  )
  report = shapes_judge.judge([caption], [example.image])
  assert report.all_right == 0
  assert report.object_right == 1
  assert "named colour, position and size right 100.0% of 1" in (
    report.summary()
  )


def test_report_counts_right_and_wrong_attributes():
  example = next(e for e in _examples(64) if e.attrs.position == "left")
  attrs = example.attrs
  right = f"a {attrs.size} {attrs.colour} {attrs.shape} on the left"
  other_colour = next(c for c in shapes.COLOURS if c != attrs.colour)
  wrong = f"a {attrs.size} {other_colour} {attrs.shape} on the right"
  report = shapes_judge.judge([right, wrong], [example.image] * 2)
  assert report.correct["colour"] == 1 and report.named["colour"] == 2
  assert report.correct["position"] == 1
  assert report.correct["size"] == 2
  assert report.all_right == 1
  assert report.object_right == 1
  assert report.accuracy("colour") == 0.5
  assert "colour 50.0% (of 2)" in report.summary()


def test_judge_rejects_mismatched_inputs():
  with pytest.raises(ValueError, match="2 captions but 1 images"):
    shapes_judge.judge(["a", "b"], [np.zeros((8, 8, 3), np.uint8)])
  with pytest.raises(ValueError, match="square RGB"):
    shapes_judge.judge_image(np.zeros((8, 9, 3), np.uint8))
