"""Tests for sdn_tf.text.tokenizer.CaptionTokenizer.

The SavedModel test loads the export in a fresh Python process that imports
only tensorflow and tensorflow_text, as a serving binary would.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.text import tokenizer as tokenizer_lib
from sdn_tf.text import vocab

CAPTIONS = [
  "This bird has a RED crown, and short wings.",
  "A small bird with a yellow belly!",
  "the bird's beak is long and pointed",
]
NASTY_INPUTS = [
  b"",
  b"   \t\n ",
  ("red " * 2500).encode(),  # 10,000 characters
  b"\xff\xfe caf\xe9",  # Latin-1 / invalid UTF-8
  "\u20ac".encode() * 4000,  # cut inside a 3-byte character
  "Ｒｅｄ ﬁnch, CAFÉ".encode(),
]
MAX_LENGTH = 6
NUM_OOV = 3


@pytest.fixture(scope="module")
def word_vocab():
  return vocab.build_vocabulary(CAPTIONS)


@pytest.fixture(scope="module")
def char_vocab():
  return vocab.build_vocabulary(CAPTIONS, mode="char")


@pytest.fixture(scope="module")
def word_tokenizer(word_vocab):
  return tokenizer_lib.CaptionTokenizer(
    word_vocab, max_length=MAX_LENGTH, num_oov_buckets=NUM_OOV
  )


@pytest.fixture(scope="module")
def char_tokenizer(char_vocab):
  return tokenizer_lib.CaptionTokenizer(
    char_vocab, mode="char", max_length=MAX_LENGTH, num_oov_buckets=NUM_OOV
  )


def _ids(tokenizer, texts):
  return tokenizer(tf.constant(texts, dtype=tf.string)).numpy()


def test_known_words_map_to_vocabulary_ids(word_tokenizer, word_vocab):
  ids = _ids(word_tokenizer, ["A small bird"])
  expected = [word_vocab.index(w) for w in ("a", "small", "bird")]
  np.testing.assert_array_equal(ids, [expected + [0, 0, 0]])
  assert ids.dtype == np.int32


def test_oov_words_map_to_buckets(word_tokenizer, word_vocab):
  ids = _ids(word_tokenizer, ["zebra quokka axolotl"])[0]
  size = len(word_vocab)
  assert np.all((ids[:3] >= size) & (ids[:3] < size + NUM_OOV))
  assert word_tokenizer.num_ids == size + NUM_OOV
  # Same word, same bucket.
  np.testing.assert_array_equal(_ids(word_tokenizer, ["zebra"])[0, 0], ids[0])


def test_padding_truncation_and_lengths(word_tokenizer):
  ids = _ids(word_tokenizer, ["bird", "a b c d e f g h i", ""])
  np.testing.assert_array_equal(ids[0, 1:], 0)
  assert np.all(ids[1] != 0)
  np.testing.assert_array_equal(ids[2], 0)
  np.testing.assert_array_equal(
    tokenizer_lib.sequence_lengths(ids).numpy(), [1, MAX_LENGTH, 0]
  )
  assert tokenizer_lib.padding_mask(ids).numpy().sum() == 1 + MAX_LENGTH


def test_nasty_inputs_do_not_crash(word_tokenizer):
  ids = _ids(word_tokenizer, NASTY_INPUTS)
  assert ids.shape == (len(NASTY_INPUTS), MAX_LENGTH)
  np.testing.assert_array_equal(ids[0], 0)  # empty -> all padding
  np.testing.assert_array_equal(ids[1], 0)  # whitespace only, too
  assert np.all(ids[2] != 0)  # long input: truncated, full
  assert np.count_nonzero(ids[3]) == 4  # U+FFFD U+FFFD caf U+FFFD


def test_long_inputs_are_cut_by_bytes(word_tokenizer):
  normalized = word_tokenizer.normalize(tf.constant(NASTY_INPUTS)).numpy()
  limit = word_tokenizer.max_input_bytes
  assert all(len(s) <= limit + 2 for s in normalized)  # +2: U+FFFD at a cut
  assert len(normalized[2]) == limit - 1  # trailing space gone


@pytest.mark.parametrize("mode", ["word", "char"])
def test_graph_tokens_match_python_twin(mode, word_tokenizer, char_tokenizer):
  tokenizer = word_tokenizer if mode == "word" else char_tokenizer
  texts = CAPTIONS + [
    "  Ｆｕｌｌ-width, ﬁne; soft\u00adhyphen\u200b emoji \u2764\ufe0f ok",
    'Straße ÉCOLE naïve 3,5cm x2 -- "quoted" (paren) [x]',
    "tab\tnew\nline\x1cunit\u2028sep",
  ]
  graph = tokenizer.split(tf.constant(texts)).to_list()
  for text, tokens in zip(texts, graph):
    assert [t.decode("utf-8") for t in tokens] == vocab.tokenize_for_vocab(
      text, mode
    )


def test_char_mode(char_tokenizer, char_vocab):
  ids = _ids(char_tokenizer, ["Ab c", "", "a\u4e2d"])
  index = char_vocab.index
  np.testing.assert_array_equal(
    ids[0], [index("a"), index("b"), index(" "), index("c"), 0, 0]
  )
  np.testing.assert_array_equal(ids[1], 0)
  assert ids[2, 0] == index("a") and ids[2, 1] >= len(char_vocab)


def test_char_mode_accepts_a_word_vocabulary(word_vocab):
  layer = tokenizer_lib.CaptionTokenizer(
    word_vocab, mode="char", max_length=MAX_LENGTH
  )
  assert layer.get_vocabulary() == vocab.char_vocabulary(word_vocab)
  ids = _ids(layer, ["bird"])[0]
  assert np.all((ids[:4] > 0) & (ids[:4] < len(layer.get_vocabulary())))


def test_vocabulary_file_and_config_round_trip(tmp_path, word_vocab):
  path = str(tmp_path / "vocab.txt")
  vocab.write_vocabulary(path, word_vocab)
  layer = tokenizer_lib.CaptionTokenizer(path, max_length=4)
  config = layer.get_config()
  assert config["vocabulary"] == path and config["max_length"] == 4
  clone = tokenizer_lib.CaptionTokenizer.from_config(config)
  texts = CAPTIONS + ["unknown words"]
  np.testing.assert_array_equal(_ids(clone, texts), _ids(layer, texts))
  in_memory = tokenizer_lib.CaptionTokenizer.from_config(
    tokenizer_lib.CaptionTokenizer(word_vocab, max_length=4).get_config()
  )
  np.testing.assert_array_equal(_ids(in_memory, texts), _ids(layer, texts))


def test_bad_arguments_are_rejected(word_vocab):
  with pytest.raises(ValueError):
    tokenizer_lib.CaptionTokenizer(word_vocab, num_oov_buckets=0)
  with pytest.raises(ValueError):
    tokenizer_lib.CaptionTokenizer(word_vocab, mode="bpe")
  with pytest.raises(ValueError):
    tokenizer_lib.CaptionTokenizer(["a", "<pad>"])


def test_symbolic_call_and_tf_data(word_tokenizer):
  symbolic = word_tokenizer(keras.Input(shape=(), dtype="string"))
  assert tuple(symbolic.shape) == (None, MAX_LENGTH)
  assert symbolic.dtype == "int32"
  dataset = tf.data.Dataset.from_tensor_slices(CAPTIONS).batch(2)
  batch = next(iter(dataset.map(word_tokenizer)))
  np.testing.assert_array_equal(
    batch.numpy(), _ids(word_tokenizer, CAPTIONS[:2])
  )


class _ServingModule(tf.Module):
  """What an export binary would save: raw strings in, ids out."""

  def __init__(self, word, char):
    super().__init__()
    self.word = word
    self.char = char

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def tokenize_words(self, texts):
    return {"ids": self.word(texts)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def tokenize_chars(self, texts):
    return {"ids": self.char(texts)}


_LOAD_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # registers the ops, as TF Serving links them
    export_dir, inputs_path = sys.argv[1], sys.argv[2]
    with open(inputs_path) as f:
      texts = [bytes.fromhex(h) for h in json.load(f)]
    loaded = tf.saved_model.load(export_dir)
    out = {}
    for name in ("tokenize_words", "tokenize_chars"):
      fn = loaded.signatures[name]
      out[name] = fn(texts=tf.constant(texts))["ids"].numpy().tolist()
    print(json.dumps(out))
""")


def test_saved_model_in_fresh_process_matches_layer(
  tmp_path, word_vocab, word_tokenizer, char_tokenizer
):
  vocab_path = str(tmp_path / "vocab.txt")
  vocab.write_vocabulary(vocab_path, word_vocab)
  from_file = tokenizer_lib.CaptionTokenizer(
    vocab_path, max_length=MAX_LENGTH, num_oov_buckets=NUM_OOV
  )
  module = _ServingModule(from_file, char_tokenizer)
  export_dir = str(tmp_path / "export")
  tf.saved_model.save(
    module,
    export_dir,
    signatures={
      "tokenize_words": module.tokenize_words,
      "tokenize_chars": module.tokenize_chars,
    },
  )
  # The table lives in the export: the vocabulary file is not needed.
  os.remove(vocab_path)
  texts = [c.encode() for c in CAPTIONS] + NASTY_INPUTS + [b"zebra quokka"]
  inputs_path = tmp_path / "inputs.json"
  inputs_path.write_text(json.dumps([t.hex() for t in texts]))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
  result = subprocess.run(
    [sys.executable, "-c", _LOAD_SCRIPT, export_dir, str(inputs_path)],
    capture_output=True,
    text=True,
    env=env,
    timeout=120,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  served = json.loads(result.stdout.strip().splitlines()[-1])
  np.testing.assert_array_equal(
    served["tokenize_words"], _ids(word_tokenizer, texts)
  )
  np.testing.assert_array_equal(
    served["tokenize_chars"], _ids(char_tokenizer, texts)
  )
