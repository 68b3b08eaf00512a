"""Tests for the text pretraining's caption augmentation."""

import numpy as np

from sdn_tf.text import augmentation
from sdn_tf.text import vocab as vocab_lib

CAPTION = "a large red circle on the left over a gray background"


def test_rate_zero_is_a_copy():
  captions = [CAPTION.encode(), "ünïcode".encode()]
  rng = np.random.default_rng(0)
  assert augmentation.augment_captions(captions, rng, 0.0) == captions


def test_every_word_kept_and_only_made_up_words_added():
  words = CAPTION.split()
  vocabulary = set(vocab_lib.tokenize_for_vocab(CAPTION))
  rng = np.random.default_rng(1)
  changed = 0
  for _ in range(200):
    text = augmentation.augment_caption(CAPTION, rng, 0.5)
    added = list(text.split())
    for word in words:
      added.remove(word)  # raises when a word of the caption was lost
    assert len(added) <= 2
    assert not vocabulary & set(added)
    changed += text != CAPTION
  # Each augmentation fires with probability 0.5: about 3 in 4 change.
  assert 120 <= changed <= 180


def test_rotation_keeps_word_order_around_the_cut():
  rng = np.random.default_rng(2)
  rotations = set()
  for _ in range(100):
    words = augmentation.augment_caption("a b c d", rng, 1.0).split()
    kept = [w for w in words if w in "abcd"]
    doubled = "abcdabcd"
    assert "".join(kept) in doubled
    rotations.add("".join(kept))
  assert rotations == {"bcda", "cdab", "dabc"}


def test_seeded():
  def run(seed):
    rng = np.random.default_rng(seed)
    return augmentation.augment_captions([CAPTION] * 8, rng, 0.5)

  assert run(3) == run(3)
  assert run(3) != run(4)
