"""Scores drawn shapes images against what their captions name.

A caption is read by `caption_parser` (not the generator's phrase tables);
an image by the evaluator network. Each attribute is scored over the
captions that name it; "all named right" over every caption.
"""

from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import numpy as np

from sdn_tf.evaluation import caption_parser

ATTRIBUTES = ("shape", "colour", "size", "position", "background")


def score(
  captions: Sequence[str],
  predicted: Dict[str, np.ndarray],
  keep: Optional[np.ndarray] = None,
) -> Dict[str, Optional[float]]:
  """Accuracy per attribute and "all_named_right" for images [N, K].

  Args:
    captions: N captions.
    predicted: {attribute: value names [N, K]} from the evaluator (K images
      per caption, one per seed).
    keep: optional bool [N]: score only these captions.

  Returns:
    {attribute: accuracy or None when no kept caption names it,
     "all_named_right": share of (caption, seed) pairs with every named
     attribute right, "num_captions": captions scored}.
  """
  hits: Dict[str, List[np.ndarray]] = {a: [] for a in ATTRIBUTES}
  all_right: List[np.ndarray] = []
  for i, caption in enumerate(captions):
    if keep is not None and not keep[i]:
      continue
    named = caption_parser.parse(caption)
    right = np.ones_like(predicted[ATTRIBUTES[0]][i], dtype=bool)
    for attribute, value in named.items():
      ok = predicted[attribute][i] == value
      hits[attribute].append(ok)
      right &= ok
    all_right.append(right)
  report: Dict[str, Optional[float]] = {
    a: float(np.concatenate(h).mean()) if h else None for a, h in hits.items()
  }
  report["all_named_right"] = (
    float(np.concatenate(all_right).mean()) if all_right else None
  )
  report["num_captions"] = len(all_right)
  return report
