"""Reads what a free-form caption asks of a shapes image.

Written apart from the generator's phrase tables (`data/shapes/captions`)
on purpose: a caption the generator never phrases ("a tiny blue disc in
the upper part, black backdrop") must be judged by what it says, not by
whether it matches a template. Only the attribute *values* come from the
data set's tables; the words for them are this module's own.

A caption names an attribute when exactly one of its values is mentioned;
none or several ("upper left") leave it unscored.
"""

import re
from typing import Dict
from typing import Iterable
from typing import Mapping
from typing import Set
from typing import Tuple

SHAPE_WORDS: Mapping[str, Tuple[str, ...]] = {
  "circle": ("circle", "circles", "disc", "disk", "ring", "round", "ball"),
  "square": ("square", "squares", "box", "block", "rectangle"),
  "triangle": ("triangle", "triangles", "triangular", "pyramid"),
  "cross": ("cross", "crosses", "plus"),
}
OBJECT_COLOUR_WORDS: Mapping[str, Tuple[str, ...]] = {
  "red": ("red", "crimson", "scarlet"),
  "green": ("green",),
  "blue": ("blue", "navy"),
  "yellow": ("yellow", "golden"),
  "purple": ("purple", "violet", "magenta", "lilac"),
  "orange": ("orange",),
  "cyan": ("cyan", "turquoise", "aqua", "teal"),
  "white": ("white",),
}
BACKGROUND_WORDS: Mapping[str, Tuple[str, ...]] = {
  "black": ("black", "dark", "darkened", "night"),
  "gray": ("gray", "grey", "greyish", "grayish", "silver"),
}
SIZE_WORDS: Mapping[str, Tuple[str, ...]] = {
  "small": (
    "small",
    "smaller",
    "smallish",
    "tiny",
    "little",
    "mini",
    "miniature",
    "petite",
    "compact",
    "minute",
  ),
  "large": (
    "large",
    "larger",
    "big",
    "bigger",
    "huge",
    "giant",
    "enormous",
    "massive",
    "oversized",
    "great",
  ),
}
POSITION_WORDS: Mapping[str, Tuple[str, ...]] = {
  "left": ("left", "leftmost", "lefthand"),
  "right": ("right", "rightmost", "righthand"),
  "top": ("top", "upper", "above", "up", "topmost", "uppermost", "high"),
  "bottom": ("bottom", "lower", "below", "beneath", "down", "lowest", "low"),
  "center": (
    "center",
    "centre",
    "middle",
    "central",
    "centered",
    "centred",
    "centrally",
  ),
}
# Words that mark the following/preceding colour word as the background's.
BACKGROUND_NOUNS = ("background", "backdrop", "backround", "backgrounds")

_WORD = re.compile(r"[a-z]+")


def _lookup(table: Mapping[str, Iterable[str]]) -> Dict[str, str]:
  return {word: value for value, words in table.items() for word in words}


_SHAPES = _lookup(SHAPE_WORDS)
_COLOURS = _lookup(OBJECT_COLOUR_WORDS)
_BACKGROUNDS = _lookup(BACKGROUND_WORDS)
_SIZES = _lookup(SIZE_WORDS)
_POSITIONS = _lookup(POSITION_WORDS)


def _only(values: Set[str]):
  return next(iter(values)) if len(values) == 1 else None


def parse(caption) -> Dict[str, str]:
  """{attribute: value} for each attribute the caption names unambiguously.

  Attributes are "shape", "colour", "size", "position", "background".
  Accepts str or bytes (undecodable bytes are dropped).
  """
  if isinstance(caption, bytes):
    caption = caption.decode("utf-8", "ignore")
  words = _WORD.findall(caption.lower())
  near_background = set()
  for i, word in enumerate(words):
    if word in BACKGROUND_NOUNS:
      near_background.update(range(max(i - 3, 0), min(i + 4, len(words))))
  found = {k: set() for k in ("shape", "colour", "size", "position")}
  backgrounds = set()
  for i, word in enumerate(words):
    if word in _BACKGROUNDS:
      backgrounds.add(_BACKGROUNDS[word])
    elif word in _COLOURS and i not in near_background:
      found["colour"].add(_COLOURS[word])
    if word in _SHAPES:
      found["shape"].add(_SHAPES[word])
    if word in _SIZES:
      found["size"].add(_SIZES[word])
    if word in _POSITIONS:
      found["position"].add(_POSITIONS[word])
  found["background"] = backgrounds
  return {k: v for k, v in ((k, _only(s)) for k, s in found.items()) if v}
