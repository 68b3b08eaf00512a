"""Tests for sdn_tf.text.vocab: normalisation, ordering, file round trip."""

import pytest

from sdn_tf.text import vocab


def test_normalize_folds_case_width_ligatures_and_spaces():
  text = "  A  Small\tBIRD\n with ＦＵＬＬ width ﬁns\u200b.  "
  assert vocab.normalize_for_vocab(text) == "a small bird with full width fins."


def test_normalize_cuts_to_byte_budget():
  assert vocab.normalize_for_vocab("abcdef", max_input_bytes=3) == "abc"
  # A multi-byte character cut in half becomes U+FFFD, as in the graph.
  assert vocab.normalize_for_vocab("a\u20ac", max_input_bytes=2) == "a\ufffd"


def test_word_tokens_split_punctuation_and_keep_accents():
  tokens = vocab.tokenize_for_vocab("This bird's wings: RED, café <pad>!")
  assert tokens == [
    "this",
    "bird",
    "'",
    "s",
    "wings",
    ":",
    "red",
    ",",
    "café",
    "<",
    "pad",
    ">",
    "!",
  ]


def test_char_tokens_keep_single_spaces():
  assert vocab.tokenize_for_vocab(" Ab  c. ", mode="char") == [
    "a",
    "b",
    " ",
    "c",
    ".",
  ]


def test_build_vocabulary_orders_by_count_then_alphabet():
  tokens = vocab.build_vocabulary(["b a c", "c b", "c d", "e"])
  assert tokens == ["<pad>", "c", "b", "a", "d", "e"]
  assert tokens.index(vocab.PAD_TOKEN) == vocab.PAD_ID == 0


def test_build_vocabulary_min_count_and_max_size():
  captions = ["b a c", "c b", "c d"]
  assert vocab.build_vocabulary(captions, min_count=2) == ["<pad>", "c", "b"]
  assert vocab.build_vocabulary(captions, max_size=3) == ["<pad>", "c", "b"]
  with pytest.raises(ValueError):
    vocab.build_vocabulary(captions, max_size=0)
  with pytest.raises(ValueError):
    vocab.build_vocabulary(captions, mode="bytes")


def test_build_vocabulary_is_deterministic():
  captions = [f"w{i % 7} x{i % 3}" for i in range(50)]
  assert vocab.build_vocabulary(captions) == vocab.build_vocabulary(
    list(reversed(captions))
  )


def test_write_read_round_trip_keeps_space_token(tmp_path):
  tokens = vocab.build_vocabulary(["ab c"], mode="char")
  assert " " in tokens
  path = str(tmp_path / "vocab.txt")
  vocab.write_vocabulary(path, tokens)
  assert vocab.read_vocabulary(path) == tokens


def test_read_missing_or_empty_file_names_it(tmp_path):
  missing = str(tmp_path / "nope.txt")
  with pytest.raises(FileNotFoundError, match="nope.txt"):
    vocab.read_vocabulary(missing)
  empty = tmp_path / "empty.txt"
  empty.write_text("")
  with pytest.raises(ValueError, match="empty.txt"):
    vocab.read_vocabulary(str(empty))


def test_vocabulary_without_pad_first_is_rejected(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_text("a\n<pad>\n", encoding="utf-8")
  with pytest.raises(ValueError, match="bad.txt"):
    vocab.read_vocabulary(str(path))
  with pytest.raises(ValueError):
    vocab.write_vocabulary(str(path), ["<pad>", "a", "a"])


def test_char_vocabulary_from_word_vocabulary():
  words = vocab.build_vocabulary(["ab ba c", "ab"])
  assert words == ["<pad>", "ab", "ba", "c"]
  chars = vocab.char_vocabulary(words)
  assert chars == ["<pad>", " ", "a", "b", "c"]
  assert vocab.is_char_vocabulary(chars) and not vocab.is_char_vocabulary(words)
