"""What a conversion counts: skipped examples and warnings, and the stats of
what was written (labels, caption counts, formats, embeddings) that
`metadata.json` reports.
"""

import collections
import logging
from typing import List
from typing import Optional

import numpy as np

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.data.records import images as images_lib

# Per reason, only this many skipped files are logged one by one; the rest
# are only counted, so a broken data set does not flood the terminal.
MAX_LOGGED_PER_REASON = 10

logger = logging.getLogger(__name__)


class IssueTally:
  """Counts skipped examples and warnings; enforces strict mode."""

  def __init__(self, strict: bool):
    self._strict = strict
    self.skipped = collections.Counter()
    self.warnings = collections.Counter()

  def report(self, issue: common.DataIssue) -> None:
    if issue.skips_example and self._strict:
      raise common.BadExampleError(f"--strict: {issue.describe()}")
    counter = self.skipped if issue.skips_example else self.warnings
    counter[issue.reason] += 1
    if counter[issue.reason] <= MAX_LOGGED_PER_REASON:
      action = "skipped" if issue.skips_example else "warning"
      logger.warning("%s: %s", action, issue.describe())
      if counter[issue.reason] == MAX_LOGGED_PER_REASON:
        logger.warning(
          "further %s not logged, only counted", issue.reason.replace("_", " ")
        )


class Stats:
  """What metadata.json says about the examples actually written."""

  def __init__(self):
    self.labels = collections.defaultdict(set)
    self.caption_counts = collections.Counter()
    self.formats = collections.Counter()
    self.reencoded = 0
    self.embedding_dim: Optional[int] = None
    self.has_embeddings: Optional[bool] = None
    self.with_boxes = 0
    self.train_captions: List[str] = []
    self.ids = set()

  def add(self, record: CaptionedImage, image: images_lib.CheckedImage) -> None:
    self.labels[record.split].add(record.label)
    self.caption_counts[len(record.captions)] += 1
    self.formats[image.format] += 1
    self.reencoded += int(image.reencoded)
    self.with_boxes += int(record.box is not None)
    if record.split == common.TRAIN:
      self.train_captions.extend(record.captions)
    self._check_embeddings(record)
    if record.embeddings is not None:
      self._add_embeddings(record)

  def _check_embeddings(self, record: CaptionedImage) -> None:
    """The input pipeline relies on all records having embeddings or none."""
    has = record.embeddings is not None
    if self.has_embeddings is None:
      self.has_embeddings = has
    elif has != self.has_embeddings:
      raise common.DatasetError(
        f"{record.example_id} {'has' if has else 'lacks'} caption "
        f"embeddings, unlike the examples before it"
      )

  def _add_embeddings(self, record: CaptionedImage) -> None:
    shape = np.shape(record.embeddings)
    # One row per caption is the stored format's contract (see
    # schema.EMBEDDINGS); loaders must keep to it.
    if len(shape) != 2 or shape[0] != len(record.captions):
      raise ValueError(
        f"embeddings of {record.example_id} have shape {shape}; expected "
        f"[{len(record.captions)} captions, dim]"
      )
    if self.embedding_dim is not None and shape[1] != self.embedding_dim:
      raise common.DatasetError(
        f"embeddings of {record.example_id} have size {shape[1]}, earlier "
        f"ones {self.embedding_dim}"
      )
    self.embedding_dim = int(shape[1])
