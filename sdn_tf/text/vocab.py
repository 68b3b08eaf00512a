"""Caption vocabularies: building, writing and reading them.

Id convention (shared with `sdn_tf.text.tokenizer.CaptionTokenizer`):
  * id 0 is `PAD_TOKEN` ("<pad>"), the only reserved token; it marks padding
    and is never produced by real text (a literal "<pad>" in a caption is
    split into "<", "pad", ">" in word mode and into single characters in
    char mode);
  * ids 1 .. len(vocabulary) - 1 are the vocabulary's tokens in file order;
  * the tokenizer maps out-of-vocabulary tokens to `num_oov_buckets` hash
    buckets with ids len(vocabulary) .. len(vocabulary) + num_oov_buckets - 1.

`normalize_for_vocab` and `tokenize_for_vocab` are pure-Python twins of the
tokenizer's in-graph steps, so a vocabulary built here holds exactly the
tokens the tokenizer looks up (for ordinary text; the graph uses ICU's
NFKC_Casefold, Python `str.casefold`, which differ on rare characters).
"""

import collections
import io
from typing import Iterable
from typing import List
from typing import Optional
from typing import Sequence
import unicodedata

from sdn_tf.text import TOKENIZER_MODES
from sdn_tf.utils import files

PAD_TOKEN = "<pad>"
PAD_ID = 0
RESERVED_TOKENS = (PAD_TOKEN,)

# Raw inputs are cut to this many bytes before any other work, so that a
# pathological request cannot make tokenisation arbitrarily slow. Captions
# are ~100 bytes; CUB's longest is well under 1 KB.
MAX_INPUT_BYTES = 4096

MODES = TOKENIZER_MODES

# Unicode's Default_Ignorable_Code_Point ranges: ICU's NFKC_Casefold (used in
# the graph) deletes them, Python's casefold does not, so we delete them here.
_DEFAULT_IGNORABLE = (
  (0x00AD, 0x00AD),
  (0x034F, 0x034F),
  (0x061C, 0x061C),
  (0x115F, 0x1160),
  (0x17B4, 0x17B5),
  (0x180B, 0x180F),
  (0x200B, 0x200F),
  (0x202A, 0x202E),
  (0x2060, 0x206F),
  (0x3164, 0x3164),
  (0xFE00, 0xFE0F),
  (0xFEFF, 0xFEFF),
  (0xFFA0, 0xFFA0),
  (0xFFF0, 0xFFF8),
  (0x1BCA0, 0x1BCA3),
  (0x1D173, 0x1D17A),
  (0xE0000, 0xE0FFF),
)


def _is_default_ignorable(char: str) -> bool:
  code = ord(char)
  return any(lo <= code <= hi for lo, hi in _DEFAULT_IGNORABLE)


def _is_word_char(char: str) -> bool:
  """Letters, combining marks and numbers form words; the rest splits."""
  return unicodedata.category(char)[0] in "LMN"


def normalize_for_vocab(
  text: str, max_input_bytes: int = MAX_INPUT_BYTES
) -> str:
  """Normalises a caption exactly as the in-graph tokenizer does.

  Steps: cut to `max_input_bytes` UTF-8 bytes (a cut character becomes
  U+FFFD), NFKC + case folding, drop format characters (zero-width joiners
  and the like) and default-ignorable code points (variation selectors),
  turn control and separator characters into spaces, collapse runs of spaces
  and strip the ends.

  Args:
    text: the raw caption.
    max_input_bytes: byte budget, as `CaptionTokenizer.max_input_bytes`.

  Returns:
    The normalised caption.
  """
  raw = text.encode("utf-8", errors="replace")[:max_input_bytes]
  text = raw.decode("utf-8", errors="replace")
  text = unicodedata.normalize("NFKC", text).casefold()
  text = unicodedata.normalize("NFKC", text)
  chars = []
  for char in text:
    category = unicodedata.category(char)
    if category == "Cf" or _is_default_ignorable(char):
      continue
    chars.append(" " if category == "Cc" or category[0] == "Z" else char)
  return _collapse_spaces("".join(chars))


def _collapse_spaces(text: str) -> str:
  """Replaces runs of spaces by one space and strips both ends."""
  return " ".join(part for part in text.split(" ") if part)


def _separate_punctuation(text: str) -> str:
  """Surrounds every non-word, non-space character with spaces."""
  return "".join(c if c == " " or _is_word_char(c) else f" {c} " for c in text)


def tokenize_for_vocab(text: str, mode: str = "word") -> List[str]:
  """Splits a caption into the tokens the in-graph tokenizer produces.

  Args:
    text: the raw caption.
    mode: "word" (runs of letters/marks/numbers; each other character is a
      token of its own) or "char" (every character of the normalised text,
      single spaces included).

  Returns:
    The caption's tokens, in order.
  """
  _check_mode(mode)
  text = normalize_for_vocab(text)
  if mode == "char":
    return list(text)
  return _separate_punctuation(text).split()


def _check_mode(mode: str) -> None:
  if mode not in MODES:
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def build_vocabulary(
  captions: Iterable[str],
  min_count: int = 1,
  max_size: Optional[int] = None,
  mode: str = "word",
) -> List[str]:
  """Builds a deterministic vocabulary from captions.

  Args:
    captions: the captions to count (training captions only).
    min_count: tokens seen fewer times are left out (they become OOV).
    max_size: maximum length of the returned list, reserved tokens
      included; None for no limit.
    mode: "word" or "char", as for `tokenize_for_vocab`.

  Returns:
    `RESERVED_TOKENS` followed by the tokens sorted by descending count,
    ties broken alphabetically (by code point). The token's index is its id.
  """
  _check_mode(mode)
  if min_count < 1:
    raise ValueError(f"min_count must be >= 1, got {min_count}")
  if max_size is not None and max_size < len(RESERVED_TOKENS):
    raise ValueError(
      f"max_size must be >= {len(RESERVED_TOKENS)} (the "
      f"reserved tokens), got {max_size}"
    )
  counts = collections.Counter()
  for caption in captions:
    counts.update(tokenize_for_vocab(caption, mode))
  for token in RESERVED_TOKENS:
    counts.pop(token, None)
  ranked = sorted(
    (t for t, n in counts.items() if n >= min_count),
    key=lambda t: (-counts[t], t),
  )
  tokens = list(RESERVED_TOKENS) + ranked
  return tokens if max_size is None else tokens[:max_size]


def char_vocabulary(word_tokens: Sequence[str]) -> List[str]:
  """Derives a char-mode vocabulary from a word-mode one.

  A prepared data dir ships one (word) vocabulary; a char-level tokenizer
  can still use it. Characters keep the order of their first appearance in
  the (frequency-ordered) words, after the reserved tokens and " ".

  Args:
    word_tokens: a vocabulary from `build_vocabulary(..., mode="word")`.

  Returns:
    `RESERVED_TOKENS`, " ", then every character of the words, once.
  """
  check_vocabulary(word_tokens)
  chars = dict.fromkeys([" "])
  for token in word_tokens[len(RESERVED_TOKENS) :]:
    chars.update(dict.fromkeys(token))
  return list(RESERVED_TOKENS) + list(chars)


def is_char_vocabulary(tokens: Sequence[str]) -> bool:
  """True when every non-reserved token is a single character."""
  return all(len(t) == 1 for t in tokens[len(RESERVED_TOKENS) :])


def check_vocabulary(tokens: Sequence[str], source: str = "vocabulary"):
  """Raises ValueError unless `tokens` follow the id convention above."""
  if not tokens:
    raise ValueError(f"{source} is empty")
  if tuple(tokens[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
    raise ValueError(
      f"{source} must start with {RESERVED_TOKENS}, got "
      f"{list(tokens[: len(RESERVED_TOKENS)])}"
    )
  for token in tokens:
    if not token or "\n" in token or "\r" in token:
      raise ValueError(f"{source} holds an invalid token {token!r}")
  duplicates = [t for t, n in collections.Counter(tokens).items() if n > 1]
  if duplicates:
    raise ValueError(f"{source} holds duplicate tokens {duplicates[:5]}")


def write_vocabulary(path: str, tokens: Sequence[str]) -> None:
  """Writes one token per line, UTF-8, in id order."""
  check_vocabulary(tokens, f"vocabulary for {path}")
  files.write(path, "".join(token + "\n" for token in tokens))


def read_vocabulary(path: str) -> List[str]:
  """Reads a vocabulary written by `write_vocabulary`.

  Args:
    path: the vocabulary file.

  Returns:
    The tokens in id order.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: the file is empty or breaks the id convention.
  """
  if not files.isfile(path):
    raise FileNotFoundError(f"vocabulary file not found: {path}")
  # Lines end at "\n" only (StringIO's default, as open(newline="\n")), and
  # only the newline is stripped: in char mode " " is a real token.
  lines = io.StringIO(files.read_text(path))
  tokens = [line[:-1] if line.endswith("\n") else line for line in lines]
  if not tokens:
    raise ValueError(f"vocabulary file is empty: {path}")
  check_vocabulary(tokens, f"vocabulary file {path}")
  return tokens
