"""The evaluation's caption parser: every generated caption, and phrasings
no template uses."""

import numpy as np
import pytest

from sdn_tf.data import shapes
from sdn_tf.evaluation import caption_parser


def _examples(split, count):
  return [shapes.generate_example(0, split, i, 16) for i in range(count)]


@pytest.mark.parametrize("split", ["train", "test"])
def test_generated_captions_parse_to_the_image_attributes(split):
  for example in _examples(split, 120):
    truth = {
      "shape": example.attrs.shape,
      "colour": example.attrs.colour,
      "size": example.attrs.size,
      "position": example.attrs.position,
      "background": example.attrs.background,
    }
    for caption in example.captions + example.paraphrases:
      named = caption_parser.parse(caption)
      # Shape and colour are in every caption; the rest when named.
      assert named["shape"] == truth["shape"], caption
      assert named["colour"] == truth["colour"], caption
      for attribute, value in named.items():
        assert value == truth[attribute], (caption, attribute)


def test_paraphrases_come_from_their_own_templates():
  # Every image has them (records keep them for validation and test only:
  # tests/data/test_tfrecord_writer.py); no template is shared.
  for split in ("train", "test"):
    assert all(len(e.paraphrases) == 2 for e in _examples(split, 20))
  assert not set(shapes.PARAPHRASE_TEMPLATES) & set(shapes.CAPTION_TEMPLATES)


@pytest.mark.parametrize(
  "caption, expected",
  [
    (
      "A tiny blue disc in the upper part, black backdrop",
      dict(
        shape="circle",
        colour="blue",
        size="small",
        position="top",
        background="black",
      ),
    ),
    (
      "big white plus sign toward the bottom on grey",
      dict(
        shape="cross",
        colour="white",
        size="large",
        position="bottom",
        background="gray",
      ),
    ),
    (
      "the violet triangle sits centrally; the backdrop is dark",
      dict(
        shape="triangle", colour="purple", position="center", background="black"
      ),
    ),
    ("a red square in the upper left", dict(shape="square", colour="red")),
    (
      "a cyan box against a plain white background",
      dict(shape="square", colour="cyan"),
    ),
    ("", {}),
  ],
)
def test_free_phrasings(caption, expected):
  assert caption_parser.parse(caption) == expected


def test_bytes_that_are_not_utf8_are_read_as_far_as_they_go():
  assert caption_parser.parse(b"a green \xff\xfe cross") == dict(
    shape="cross", colour="green"
  )


def test_random_bytes_never_raise():
  rng = np.random.default_rng(0)
  for _ in range(200):
    caption_parser.parse(bytes(rng.integers(0, 256, 40, dtype=np.uint8)))
