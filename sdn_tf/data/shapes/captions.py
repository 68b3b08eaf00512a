"""Captions of a shapes image: phrase tables, templates, filling them in.

Colour and shape words are the attribute table's names. No phrase of one
value is contained in a phrase of another value, and no template word
contains an attribute word, so captions parse back with word-boundary
matching.
"""

import re
from typing import Dict
from typing import List
from typing import Tuple

import numpy as np

from sdn_tf.data.shapes.spec import NUM_CAPTIONS
from sdn_tf.data.shapes.spec import ShapeAttributes
from sdn_tf.data.shapes.spec import pick

# ----------------------------------------------------------------------------

SIZE_PHRASES: Dict[str, Tuple[str, ...]] = {
  "small": ("small", "tiny", "little"),
  "large": ("large", "big", "huge"),
}

POSITION_PHRASES: Dict[str, Tuple[str, ...]] = {
  "center": (
    "in the center",
    "in the middle",
    "at the center",
    "in the middle of the picture",
  ),
  "left": (
    "on the left",
    "on the left side",
    "at the left side",
    "to the left",
    "at the left",
  ),
  "right": (
    "on the right",
    "on the right side",
    "at the right side",
    "to the right",
    "at the right",
  ),
  "top": (
    "at the top",
    "near the top",
    "in the upper part",
    "toward the top",
    "at the top side",
  ),
  "bottom": (
    "at the bottom",
    "near the bottom",
    "in the lower part",
    "toward the bottom",
    "at the bottom side",
  ),
}

BACKGROUND_WORDS: Dict[str, Tuple[str, ...]] = {
  "black": ("black", "dark"),
  "gray": ("gray", "grey"),
}

# "{}" is the background word. {bg} slots take a prepositional phrase, {bgn}
# slots a noun phrase.
BACKGROUND_PHRASES: Tuple[str, ...] = (
  "on a {} background",
  "over a {} background",
  "against a {} backdrop",
  "on a plain {} background",
)
BACKGROUND_NOUN_PHRASES: Tuple[str, ...] = (
  "a {} background",
  "a plain {} backdrop",
  "a {} backdrop",
)

# Slots: {size} {colour} {shape} {pos} {bg} {bgn}. Colour and shape are in
# every template; size, position and background are left out of some.
CAPTION_TEMPLATES: Tuple[str, ...] = (
  "a {size} {colour} {shape} {pos}",
  "{pos} there is a {size} {colour} {shape} {bg}",
  "the picture shows a {size} {colour} {shape} {pos}",
  "{pos} you can see a {size} {colour} {shape}",
  "a {size} {shape} in {colour} {pos} {bg}",
  "this image has a {size} {colour} {shape} {pos}",
  "{bgn} with a {size} {colour} {shape} {pos}",
  "the {shape} is {colour} and {size}, and it sits {pos}",
  "a {colour} {shape} that is {size}, placed {pos}",
  "{size} {colour} {shape} {pos} {bg}",
  "an image of a {size} {colour} {shape} {pos}",
  "the {colour} {shape} {pos} is {size}",
  "{pos} sits a {size} {colour} {shape} {bg}",
  "a {colour} {shape} {pos} {bg}",
  "a {size} {colour} {shape} {bg}",
  "there is a {size} {colour} {shape} {pos}",
)

# Templates never used for training captions: test images also get captions
# from these (the "paraphrase" set), so an evaluation can tell a model that
# reads the words from one that only knows the training templates' order.
PARAPHRASE_TEMPLATES: Tuple[str, ...] = (
  "{colour} {shape}, {size}, {pos}",
  "draw one {size} {colour} {shape} {pos} {bg}",
  "i see a {colour} {shape} of {size} size {pos}",
  "{pos}: one {size} {shape}, coloured {colour}",
  "a {shape} in {colour}, {size}, {bg}, {pos}",
  "the scene contains just one {size} {colour} {shape} placed {pos}",
)
NUM_PARAPHRASES = 2

# ----------------------------------------------------------------------------
# Captions.
# ----------------------------------------------------------------------------


def _fix_articles(text: str) -> str:
  return re.sub(r"\ba (?=[aeiou])", "an ", text)


def _fill_template(
  template: str, attrs: ShapeAttributes, rng: np.random.Generator
) -> str:
  """Fills one template, drawing a synonym for each slot."""
  bg_word = pick(rng, BACKGROUND_WORDS[attrs.background])
  text = template.format(
    size=pick(rng, SIZE_PHRASES[attrs.size]),
    colour=attrs.colour,
    shape=attrs.shape,
    pos=pick(rng, POSITION_PHRASES[attrs.position]),
    bg=pick(rng, BACKGROUND_PHRASES).format(bg_word),
    bgn=pick(rng, BACKGROUND_NOUN_PHRASES).format(bg_word),
  )
  return _fix_articles(text)


def make_captions(
  attrs: ShapeAttributes,
  rng: np.random.Generator,
  num: int = NUM_CAPTIONS,
  templates: Tuple[str, ...] = CAPTION_TEMPLATES,
) -> Tuple[List[str], List[int]]:
  """Returns `num` captions from distinct templates, and the template ids."""
  if num > len(templates):
    raise ValueError(f"at most {len(templates)} captions, got {num}")
  template_ids = [int(i) for i in rng.permutation(len(templates))[:num]]
  captions = [_fill_template(templates[i], attrs, rng) for i in template_ids]
  return captions, template_ids
