"""In-graph caption tokenisation: raw strings in, padded int32 ids out.

`CaptionTokenizer` is one Keras 3 layer used both by the training input
pipeline and inside the exported SavedModel, so serving sees exactly the
tokenisation training saw. Every step is a TensorFlow or `tensorflow_text`
op; a serving binary must link tensorflow-text's ops (in Python:
`import tensorflow_text` before `tf.saved_model.load`).

Steps, per string:
  1. cut to `max_input_bytes` bytes, so absurd inputs cost no more than a
     long caption (this may cut a character in half: step 2 repairs it);
  2. repair invalid UTF-8: every bad byte sequence becomes U+FFFD, so
     Latin-1 or binary input never raises;
  3. NFKC normalisation and case folding (ICU's NFKC_Casefold);
  4. drop format characters (Cf), turn control characters and separators
     (Cc, Z*) into spaces, collapse runs of spaces, strip the ends;
  5. split: "word" mode surrounds every character that is not a letter,
     mark, number or space with spaces (so punctuation and symbols are
     tokens of their own) and splits with `tensorflow_text.WhitespaceTokenizer`;
     "char" mode splits into Unicode characters (spaces included), the unit
     of the paper's char-CNN-RNN encoder;
  6. look tokens up in a `tf.lookup.StaticVocabularyTable`;
  7. keep the first `max_length` ids and pad with 0.

Word splitting is a regex plus `WhitespaceTokenizer` rather than, say,
`UnicodeScriptTokenizer` because its rule is simple enough to restate in pure
Python (`sdn_tf.text.vocab.tokenize_for_vocab`), which builds the vocabulary
with the very same tokens; it also keeps "3," apart as "3" and ",".

Ids follow `sdn_tf.text.vocab`: 0 = padding ("<pad>", never produced by real
text), 1 .. V-1 = vocabulary tokens, V .. V + num_oov_buckets - 1 =
out-of-vocabulary hash buckets (Fingerprint64, stable across processes),
where V = len(vocabulary). Hence `sequence_lengths(ids)` and
`padding_mask(ids)` recover lengths and masks from the ids alone.
"""

from typing import List
from typing import Sequence
from typing import Union

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from sdn_tf.text import vocab as vocab_lib

# Step 4 and 5 patterns (RE2). The Python twins are in sdn_tf.text.vocab.
_FORMAT_CHARS = r"\p{Cf}"
_SPACE_CHARS = r"[\p{Cc}\pZ]"
_SPACE_RUNS = r" +"
_NON_WORD_CHAR = r"([^\pL\pM\pN ])"


@keras.saving.register_keras_serializable(package="sdn_tf")
class CaptionTokenizer(keras.layers.Layer):
  """Maps a [batch] string tensor to int32 ids [batch, max_length].

  Args:
    vocabulary: list of tokens (id = index, "<pad>" first) or the path of a
      vocabulary file written by `sdn_tf.text.vocab.write_vocabulary`. A path
      is read once, at construction; `get_config()` returns it as given. In
      char mode a word vocabulary is accepted and reduced to its characters
      (`sdn_tf.text.vocab.char_vocabulary`); `get_vocabulary()` tells.
    mode: "word" or "char".
    max_length: ids per caption; longer captions keep their first tokens.
    num_oov_buckets: hash buckets for out-of-vocabulary tokens (>= 1).
    max_input_bytes: raw inputs are cut to this many bytes first.
    **kwargs: passed to `keras.layers.Layer`.
  """

  def __init__(
    self,
    vocabulary: Union[str, Sequence[str]],
    mode: str = "word",
    max_length: int = 32,
    num_oov_buckets: int = 1,
    max_input_bytes: int = vocab_lib.MAX_INPUT_BYTES,
    **kwargs,
  ):
    kwargs.setdefault("trainable", False)
    super().__init__(**kwargs)
    _check_args(mode, max_length, num_oov_buckets, max_input_bytes)
    # Kept as given (a path or a tuple) for get_config; a tuple is not
    # wrapped into a tracked list by Keras.
    self._vocabulary_arg = (
      vocabulary if isinstance(vocabulary, str) else tuple(vocabulary)
    )
    self._tokens = _load_tokens(vocabulary, mode)
    self.mode = mode
    self.max_length = max_length
    self.num_oov_buckets = num_oov_buckets
    self.max_input_bytes = max_input_bytes
    # An attribute of the layer, hence tracked: tf.saved_model.save exports
    # the table with any tf.Module that holds this layer.
    self.table = _make_table(self._tokens, num_oov_buckets)
    self._whitespace_tokenizer = tf_text.WhitespaceTokenizer()
    self.built = True

  @property
  def num_ids(self) -> int:
    """Size of the id space: vocabulary plus OOV buckets (embedding rows)."""
    return len(self._tokens) + self.num_oov_buckets

  def get_vocabulary(self) -> List[str]:
    """The vocabulary tokens in id order ("<pad>" first)."""
    return list(self._tokens)

  def normalize(self, texts: tf.Tensor) -> tf.Tensor:
    """Steps 1-4: the normalised string of each raw input."""
    texts = tf.strings.substr(texts, 0, self.max_input_bytes, unit="BYTE")
    texts = tf.strings.unicode_transcode(
      texts,
      input_encoding="UTF-8",
      output_encoding="UTF-8",
      errors="replace",
      replacement_char=0xFFFD,
    )
    texts = tf_text.case_fold_utf8(tf_text.normalize_utf8(texts, "NFKC"))
    texts = tf.strings.regex_replace(texts, _FORMAT_CHARS, "")
    texts = tf.strings.regex_replace(texts, _SPACE_CHARS, " ")
    texts = tf.strings.regex_replace(texts, _SPACE_RUNS, " ")
    return tf.strings.strip(texts)

  def split(self, texts: tf.Tensor) -> tf.RaggedTensor:
    """Steps 1-5: string tokens, ragged [batch, (tokens)]."""
    texts = self.normalize(texts)
    if self.mode == "char":
      return tf.strings.unicode_split(texts, "UTF-8")
    texts = tf.strings.regex_replace(texts, _NON_WORD_CHAR, r" \1 ")
    return self._whitespace_tokenizer.tokenize(texts)

  def call(self, inputs):
    """Tokenises raw strings.

    Args:
      inputs: string tensor [batch] of raw (possibly invalid UTF-8) bytes.

    Returns:
      int32 ids [batch, max_length], 0 = padding.
    """
    inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
    tokens = self.split(tf.reshape(inputs, [-1]))
    ids = tf.ragged.map_flat_values(self.table.lookup, tokens)
    ids = ids[:, : self.max_length].to_tensor(
      default_value=vocab_lib.PAD_ID, shape=[None, self.max_length]
    )
    return tf.cast(ids, tf.int32)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.max_length)

  def compute_output_spec(self, inputs):
    return keras.KerasTensor((inputs.shape[0], self.max_length), dtype="int32")

  def get_config(self):
    config = super().get_config()
    vocabulary = self._vocabulary_arg
    config.update(
      {
        "vocabulary": (
          vocabulary if isinstance(vocabulary, str) else list(vocabulary)
        ),
        "mode": self.mode,
        "max_length": self.max_length,
        "num_oov_buckets": self.num_oov_buckets,
        "max_input_bytes": self.max_input_bytes,
      }
    )
    return config


def sequence_lengths(ids: tf.Tensor) -> tf.Tensor:
  """Number of non-padding ids per row, int32 [batch]."""
  return tf.reduce_sum(tf.cast(padding_mask(ids), tf.int32), axis=-1)


def padding_mask(ids: tf.Tensor) -> tf.Tensor:
  """True where `ids` holds a real token, bool [batch, max_length]."""
  return tf.not_equal(ids, vocab_lib.PAD_ID)


def _check_args(
  mode: str, max_length: int, num_oov_buckets: int, max_input_bytes: int
) -> None:
  if mode not in vocab_lib.MODES:
    raise ValueError(f"mode must be one of {vocab_lib.MODES}, got {mode!r}")
  if max_length < 1:
    raise ValueError(f"max_length must be >= 1, got {max_length}")
  # StaticVocabularyTable needs at least one bucket, and without one an
  # unknown word would have no id that differs from padding.
  if num_oov_buckets < 1:
    raise ValueError(f"num_oov_buckets must be >= 1, got {num_oov_buckets}")
  if max_input_bytes < 1:
    raise ValueError(f"max_input_bytes must be >= 1, got {max_input_bytes}")


def _load_tokens(vocabulary: Union[str, Sequence[str]], mode: str) -> List[str]:
  """Reads a vocabulary file or checks an in-memory token list.

  In char mode a word vocabulary (the one a prepared data dir ships) is
  turned into the characters of its words; see `vocab.char_vocabulary`.
  """
  if isinstance(vocabulary, str):
    tokens = vocab_lib.read_vocabulary(vocabulary)
  else:
    tokens = list(vocabulary)
    vocab_lib.check_vocabulary(tokens)
  if mode == "char" and not vocab_lib.is_char_vocabulary(tokens):
    tokens = vocab_lib.char_vocabulary(tokens)
  return tokens


def _make_table(
  tokens: Sequence[str], num_oov_buckets: int
) -> tf.lookup.StaticVocabularyTable:
  """Token -> id table; "<pad>" is a key too, so that OOV ids start at V."""
  initializer = tf.lookup.KeyValueTensorInitializer(
    keys=tf.constant(list(tokens), dtype=tf.string),
    values=tf.range(len(tokens), dtype=tf.int64),
  )
  return tf.lookup.StaticVocabularyTable(initializer, num_oov_buckets)
