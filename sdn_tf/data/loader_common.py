"""Pieces shared by the data set loaders: errors, data issues, caption files.

Loaders do not decide what to do with bad data. They yield a stream of
`CaptionedImage` records interleaved with `DataIssue`s (an image without a
caption file, an empty caption file, caption text that is not UTF-8), and the
converter (`records.writer`) skips and counts them, or stops on the first one
in strict mode. Images themselves are checked by the converter, which has to
read their bytes anyway.

Error messages name options as `--flags` because `tools/prepare_dataset.py`
exposes every loader and writer option under the same name.
"""

import dataclasses
import hashlib
import io
from typing import Callable
from typing import Dict
from typing import Iterable
from typing import Iterator
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
from typing import Union

from sdn_tf.data.captioned_image import CaptionedImage
from sdn_tf.utils import files
from sdn_tf.utils.errors import UsageError

TRAIN = "train"
# Images of the training classes held out of training, for tuning. Loaders
# never yield it: the converter moves a hashed fraction of TRAIN there.
VALIDATION = "validation"
TEST = "test"
SPLITS = (TRAIN, VALIDATION, TEST)
# The splits a loader's data set comes in.
SOURCE_SPLITS = (TRAIN, TEST)

# Reasons an example is skipped (or, in strict mode, fatal).
MISSING_CAPTION_FILE = "missing_caption_file"
EMPTY_CAPTION_FILE = "empty_caption_file"
UNREADABLE_IMAGE = "unreadable_image"
CORRUPT_IMAGE = "corrupt_image"
DUPLICATE_ID = "duplicate_id"
MISSING_ATTRIBUTES = "missing_attributes"
# Reasons worth reporting that never cost an example.
CAPTION_NOT_UTF8 = "caption_not_utf8"
CAPTION_EMBEDDING_MISMATCH = "caption_embedding_count_mismatch"


class DatasetError(UsageError):
  """A mistake in the user's data or options; reported as one line."""


class LayoutError(DatasetError):
  """The data dir is missing or does not match the expected layout."""


class BadExampleError(DatasetError):
  """Strict mode met an example that would otherwise be skipped."""


@dataclasses.dataclass(frozen=True)
class DataIssue:
  """Something wrong with one file of the user's data.

  Attributes:
    reason: one of the reason constants of this module.
    path: the offending file.
    detail: a short human-readable explanation.
    skips_example: True when the example is lost (the converter counts it as
      skipped, or fails in strict mode); False for a warning only.
  """

  reason: str
  path: str
  detail: str = ""
  skips_example: bool = True

  def describe(self) -> str:
    """One line naming the reason and the file."""
    text = f"{self.reason.replace('_', ' ')}: {self.path}"
    return f"{text} ({self.detail})" if self.detail else text


Item = Union[CaptionedImage, DataIssue]


@dataclasses.dataclass(frozen=True)
class DatasetSource:
  """A data set found on disk, ready to be iterated.

  Loaders check the layout eagerly (when the source is built) so that a wrong
  `--data_dir` fails before any work; the examples themselves are read
  lazily by `items()`.

  Attributes:
    name: the registry name ("cub", "oxford102", ...).
    data_dir: the data dir the user gave, made absolute.
    class_names: class names indexed by label.
    split_rule: a sentence saying how train and test were chosen.
    num_images: images the stream will visit (for progress), if known.
    make_items: returns a fresh iterator of records and issues.
    options: the loader options in effect, for metadata.json.
    attributes: {attribute: its values} when the records carry per-image
      attribute indices into these tuples (shapes' attributes.jsonl).
  """

  name: str
  data_dir: str
  class_names: Tuple[str, ...]
  split_rule: str
  num_images: Optional[int]
  make_items: Callable[[], Iterator[Item]]
  options: dict = dataclasses.field(default_factory=dict)
  attributes: Optional[Dict[str, Tuple[str, ...]]] = None

  def items(self) -> Iterator[Item]:
    """Yields `CaptionedImage`s and `DataIssue`s, in a deterministic order."""
    return self.make_items()

  def records(self) -> Iterator[CaptionedImage]:
    """Yields only the records, dropping every issue (for tools and tests)."""
    return only_records(self.items())


def hash_fraction(key: str) -> float:
  """A number in [0, 1) fixed by `key`: the same on every machine and run,
  whatever order the examples come in."""
  digest = hashlib.sha256(key.encode("utf-8")).digest()
  return int.from_bytes(digest[:8], "big") / 2.0**64


def only_records(items: Iterable[Item]) -> Iterator[CaptionedImage]:
  """Filters the `CaptionedImage`s out of a loader's stream."""
  return (item for item in items if isinstance(item, CaptionedImage))


def require_dir(data_dir: str) -> str:
  """Returns `data_dir` made absolute; raises LayoutError if it is no dir."""
  if not data_dir:
    raise LayoutError("--data_dir is empty: give the folder holding the data")
  path = files.absolute(data_dir)
  if not files.exists(path):
    raise LayoutError(f"--data_dir={data_dir} does not exist")
  if not files.isdir(path):
    raise LayoutError(f"--data_dir={data_dir} is a file, not a folder")
  return path


def first_existing(
  paths: Iterable[str], check: Callable[[str], bool] = files.exists
) -> Optional[str]:
  """The first of `paths` passing `check`, or None."""
  for path in paths:
    if check(path):
      return path
  return None


def read_captions(path: str) -> Tuple[Tuple[str, ...], List[DataIssue]]:
  """Reads a caption file: one caption per non-empty line.

  Args:
    path: the caption file.

  Returns:
    (captions, issues). `captions` is empty exactly when an issue that skips
    the example was found (missing or empty file). Text that is not valid
    UTF-8 is decoded with U+FFFD replacements and reported as a warning,
    because losing an accent is better than losing the image.
  """
  try:
    raw = files.read_bytes(path)
  except FileNotFoundError:
    return (), [DataIssue(MISSING_CAPTION_FILE, path)]
  except OSError as e:
    return (), [DataIssue(MISSING_CAPTION_FILE, path, e.strerror or str(e))]
  issues = []
  try:
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    issues.append(
      DataIssue(
        CAPTION_NOT_UTF8,
        path,
        f"byte {e.start}; decoded with replacement",
        skips_example=False,
      )
    )
  captions = tuple(line.strip() for line in text.splitlines() if line.strip())
  if not captions:
    issues.append(DataIssue(EMPTY_CAPTION_FILE, path))
  return captions, issues


def captioned_items(
  path: str, make_record: Callable[[Tuple[str, ...]], CaptionedImage]
) -> Iterator[Item]:
  """Yields a caption file's issues, then its record if it has captions.

  Args:
    path: the caption file.
    make_record: builds the record from the captions.
  """
  captions, issues = read_captions(path)
  yield from issues
  if captions:
    yield make_record(captions)


def read_lines(path: str, errors: str = "replace") -> io.StringIO:
  """The lines of UTF-8 text file `path` (a URL too), split as open()
  splits them: at CR LF, LF or CR; `errors` as for open()."""
  return io.StringIO(files.read_text(path, errors=errors), newline=None)


def read_class_list(path: str) -> List[str]:
  """Reads a class list file (one class name per non-empty line)."""
  try:
    names = [line.strip() for line in read_lines(path) if line.strip()]
  except OSError as e:
    raise LayoutError(
      f"cannot read class list {path}: {e.strerror or e}"
    ) from None
  if not names:
    raise LayoutError(f"class list {path} is empty")
  return names


# Reed et al.'s class lists, found beside their caption archives.
CLASS_LIST_FILES = (("testclasses.txt", TEST), ("trainvalclasses.txt", TRAIN))


def find_class_list(dirs: Iterable[str]) -> Optional[Tuple[str, str]]:
  """Finds Reed's class list files in `dirs`.

  Returns:
    (path, split of the listed classes) for the first `testclasses.txt`, else
    the first `trainvalclasses.txt`, else None.
  """
  dirs = list(dict.fromkeys(dirs))
  for name, split in CLASS_LIST_FILES:
    path = first_existing((files.join(d, name) for d in dirs), files.isfile)
    if path:
      return path, split
  return None


def split_by_class_list(
  class_names: Sequence[str],
  listed: Sequence[str],
  listed_split: str,
  path: str,
  normalize: Callable[[str], str] = lambda s: s,
) -> dict:
  """Maps each class name to a split given a list of one split's classes.

  Args:
    class_names: every class of the data set.
    listed: the classes named by the file (normalised with `normalize`).
    listed_split: the split the listed classes go to; the others go to the
      other split.
    path: the file, for error messages.
    normalize: maps a line of the file to a class name.

  Returns:
    {class_name: split}.

  Raises:
    LayoutError: the file names a class the data set does not have.
  """
  wanted = {normalize(name) for name in listed}
  unknown = sorted(wanted - set(class_names))
  if unknown:
    raise LayoutError(
      f"class list {path} names {len(unknown)} class(es) not "
      f"in the data set, e.g. {unknown[0]!r}"
    )
  other = TEST if listed_split == TRAIN else TRAIN
  return {
    name: listed_split if name in wanted else other for name in class_names
  }
