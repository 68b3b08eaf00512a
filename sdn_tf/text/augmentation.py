"""Caption augmentation for the text encoder's pretraining.

Trained captions come from a few templates, so an encoder that sees only
them can learn where a word sits instead of what it says, and a caption
phrased another way (words it never saw, another order) lands far from the
images it names. Each augmentation keeps every word of the caption and
changes only what a paraphrase changes:

  rotate   the words from a random boundary on move to the front ("a red
           circle on the left" -> "on the left a red circle");
  insert   one or two made-up words (out of the vocabulary by construction)
           go in at random places, as a user's filler words would.

Every caption gets each augmentation with probability `rate`, independently.
Pure Python on the host, seeded by the caller's generator, so a pretraining
run stays reproducible.
"""

from typing import List
from typing import Sequence
from typing import Union

import numpy as np

# Letters of the made-up words: vowels and consonants alternate, so they
# look like words to a tokenizer but are in no vocabulary built from
# English captions (none is a real word of the built-in data's captions).
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def _made_up_word(rng: np.random.Generator) -> str:
  length = int(rng.integers(2, 4))
  return "q" + "".join(
    rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS))
    for _ in range(length)
  )


def augment_caption(text: str, rng: np.random.Generator, rate: float) -> str:
  """One caption, rotated and/or with made-up words inserted."""
  words = text.split()
  if len(words) > 1 and rng.random() < rate:
    cut = int(rng.integers(1, len(words)))
    words = words[cut:] + words[:cut]
  if rng.random() < rate:
    for _ in range(int(rng.integers(1, 3))):
      words.insert(int(rng.integers(0, len(words) + 1)), _made_up_word(rng))
  return " ".join(words)


def augment_captions(
  captions: Sequence[Union[bytes, str]], rng: np.random.Generator, rate: float
) -> List[bytes]:
  """`augment_caption` over a batch of UTF-8 captions; `rate=0` is a copy."""
  out = []
  for caption in captions:
    text = (
      caption.decode("utf-8", "replace")
      if isinstance(caption, bytes)
      else caption
    )
    if rate > 0:
      text = augment_caption(text, rng, rate)
    out.append(text.encode("utf-8"))
  return out
