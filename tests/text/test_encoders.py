"""Tests for sdn_tf.text.encoders with real tokenisers and SavedModels.

The TF-Hub test writes its own small text-embedding SavedModel (a hashed
bag of words) and loads it through `tensorflow_hub.load`, as a user's local
module or downloaded handle would be.
"""

import numpy as np
import pytest
import tensorflow as tf

from sdn_tf.text import encoders
from sdn_tf.text import tokenizer as tokenizer_lib
from sdn_tf.text import vocab

CAPTIONS = [
  "this bird has a red crown and short wings",
  "a small bird with a yellow belly",
  "the flower has five white petals",
]
ODD_INPUTS = [
  b"",
  ("red " * 2500).encode(),  # 10,000 characters
  b"\xff\xfe caf\xe9 \x00 bird",  # Latin-1 / invalid UTF-8, a NUL
  "Ｒｅｄ ﬁnch, CAFÉ".encode(),
]
OUT = 12


def _encoder(mode, max_length):
  tokens = vocab.build_vocabulary(CAPTIONS, mode=mode)
  tokenizer = tokenizer_lib.CaptionTokenizer(
    tokens, mode=mode, max_length=max_length
  )
  tf.random.set_seed(0)
  return encoders.CnnRnnEncoder(
    tokenizer, output_dim=OUT, token_dim=8, conv_filters=8, rnn_units=8
  )


@pytest.fixture(scope="module", params=["word", "char"])
def encoder(request):
  return _encoder(request.param, 16 if request.param == "word" else 48)


def test_cnn_rnn_output_shape(encoder):
  out = encoder(tf.constant(CAPTIONS))
  assert tuple(out.shape) == (3, OUT)
  assert out.dtype == tf.float32
  assert encoder.input_key == "caption"
  assert encoder.output_dim == OUT
  assert encoder.pool == (3 if encoder.tokenizer.mode == "char" else 1)


def test_cnn_rnn_odd_inputs(encoder):
  out = encoder(tf.constant(ODD_INPUTS)).numpy()
  assert out.shape == (len(ODD_INPUTS), OUT)
  assert np.all(np.isfinite(out))
  # An input alone gives what it gives in a batch (no cross-talk).
  for i, text in enumerate(ODD_INPUTS):
    np.testing.assert_allclose(
      encoder(tf.constant([text])).numpy()[0], out[i], rtol=1e-5, atol=1e-5
    )


def test_cnn_rnn_empty_string_alone(encoder):
  out = encoder(tf.constant([""])).numpy()
  assert out.shape == (1, OUT)
  assert np.all(np.isfinite(out))


def test_cnn_rnn_different_captions_differ(encoder):
  out = encoder(tf.constant(CAPTIONS + [CAPTIONS[0]])).numpy()
  for i in range(3):
    for j in range(i + 1, 3):
      assert not np.allclose(out[i], out[j], atol=1e-6), (i, j)
  np.testing.assert_allclose(out[0], out[3], rtol=1e-5, atol=1e-6)


def test_cnn_rnn_in_a_tf_function(encoder):
  eager = encoder(tf.constant(CAPTIONS)).numpy()
  graph = tf.function(lambda t: encoder(t))(tf.constant(CAPTIONS)).numpy()
  np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-6)


def test_cnn_rnn_prepare_then_encode(encoder):
  """The trainer runs `prepare` (strings) outside its compiled step."""
  texts = tf.constant(CAPTIONS)
  ids = encoder.prepare(texts)
  assert ids.dtype == tf.int32
  np.testing.assert_array_equal(ids, encoder.tokenizer(texts))
  compiled = tf.function(lambda i: encoder.encode(i), jit_compile=True)
  np.testing.assert_allclose(
    compiled(ids), encoder(texts), rtol=1e-4, atol=1e-5
  )


def test_cnn_rnn_gradients_reach_the_token_embedding(encoder):
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(encoder(tf.constant(CAPTIONS))))
  variables = encoder.trainable_variables
  grads = tape.gradient(loss, variables)
  by_path = {v.path: g for v, g in zip(variables, grads)}
  embedding = encoder.token_embedding.embeddings
  grad = tf.convert_to_tensor(by_path[embedding.path]).numpy()
  assert np.abs(grad).sum() > 0
  # The rows of the tokens that occur get a gradient, unused ones do not.
  used = np.unique(encoder.tokenizer(tf.constant(CAPTIONS)).numpy())
  unused = np.setdiff1d(np.arange(grad.shape[0]), used)
  assert np.all(np.abs(grad[used[used > 0]]).sum(axis=1) > 0)
  assert np.all(grad[unused] == 0)
  assert all(g is not None for g in grads), [
    p for p, g in by_path.items() if g is None
  ]
  # The tokenizer's table is not trainable.
  assert not encoder.tokenizer.trainable_weights


def _bag_of_words(captions=CAPTIONS):
  tokens = vocab.build_vocabulary(captions, mode="word")
  tokenizer = tokenizer_lib.CaptionTokenizer(tokens, mode="word", max_length=16)
  tf.random.set_seed(0)
  return encoders.BagOfWordsEncoder(tokenizer, output_dim=OUT, token_dim=8)


def test_bag_of_words_ignores_word_order_and_composes_words():
  encoder = _bag_of_words(["a red circle", "a blue square"])
  out = encoder(
    tf.constant(
      ["a red circle", "circle red a", "a red square", "a blue circle"]
      + ["a blue square"]
    )
  ).numpy()
  np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)
  # A pair never seen together is read as its words: the step from
  # square to circle is the same whatever the colour.
  np.testing.assert_allclose(
    out[0] - out[2], out[3] - out[4], rtol=1e-4, atol=1e-5
  )
  assert not np.allclose(out[0], out[2], atol=1e-4)


def test_bag_of_words_odd_inputs_and_compiled_encode():
  encoder = _bag_of_words()
  out = encoder(tf.constant(ODD_INPUTS)).numpy()
  assert out.shape == (len(ODD_INPUTS), OUT)
  assert np.all(np.isfinite(out))
  # The empty caption reads as no word at all: the projection's bias.
  np.testing.assert_allclose(
    out[0], encoder.projection.bias.numpy(), rtol=1e-6, atol=1e-6
  )
  ids = encoder.prepare(tf.constant(CAPTIONS))
  compiled = tf.function(lambda i: encoder.encode(i), jit_compile=True)
  np.testing.assert_allclose(
    compiled(ids), encoder(tf.constant(CAPTIONS)), rtol=1e-4, atol=1e-5
  )


def test_encoders_keep_their_weight_order_for_the_pretraining_cache():
  """Token embedding first, projection last: the cache is in this order."""
  for encoder in (_encoder("word", 16), _bag_of_words()):
    encoder(tf.constant(CAPTIONS))
    paths = [w.path.split("/", 1)[1] for w in encoder.weights]
    assert paths[0] == "token_embedding/embeddings"
    assert paths[-2:] == ["projection/kernel", "projection/bias"]


def test_precomputed_is_identity():
  enc = encoders.PrecomputedEncoder(4)
  x = np.random.RandomState(0).normal(size=(3, 4)).astype(np.float32)
  np.testing.assert_array_equal(enc(x), x)
  assert enc.input_key == "embedding"
  assert enc.output_dim == 4
  assert not enc.weights


def test_precomputed_wrong_size():
  enc = encoders.PrecomputedEncoder(4)
  with pytest.raises(
    tf.errors.InvalidArgumentError, match="differs from --embedding_dim"
  ):
    enc(np.zeros((2, 5), np.float32))
  graph = tf.function(lambda x: enc(x))
  with pytest.raises(
    tf.errors.InvalidArgumentError, match="differs from --embedding_dim"
  ):
    graph(tf.zeros((2, 3)))


# --- TF-Hub --------------------------------------------------------------

_BUCKETS = 32
_DIM = 8


class _BagOfWords(tf.Module):
  """A TF-Hub style text embedding: [batch] strings -> [batch, 8]."""

  def __init__(self):
    super().__init__()
    self.table = tf.Variable(
      np.random.RandomState(0).normal(size=(_BUCKETS, _DIM)).astype(np.float32)
    )

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def __call__(self, texts):
    words = tf.strings.split(texts)
    ids = tf.strings.to_hash_bucket_fast(words, _BUCKETS)
    vectors = tf.nn.embedding_lookup(self.table, ids)
    return tf.reduce_sum(vectors, axis=1) + 0.5


class _WrongRank(tf.Module):
  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def __call__(self, texts):
    return tf.cast(tf.strings.length(texts), tf.float32)


@pytest.fixture(scope="module")
def hub_module(tmp_path_factory):
  module = _BagOfWords()
  path = tmp_path_factory.mktemp("hub") / "bag_of_words"
  tf.saved_model.save(module, str(path))
  return module, path


def test_hub_encoder_loads_a_local_saved_model(hub_module):
  module, path = hub_module
  enc = encoders.HubEncoder(handle=str(path))
  assert enc.output_dim == _DIM
  assert enc.input_key == "caption"
  assert not enc.trainable
  assert enc.get_config()["handle"] == str(path)
  texts = tf.constant(CAPTIONS + [""])
  out = enc(texts)
  assert tuple(out.shape) == (4, _DIM)
  np.testing.assert_allclose(out, module(texts), rtol=1e-6)
  # The empty caption is the module's bias alone.
  np.testing.assert_allclose(out[3], np.full(_DIM, 0.5))
  assert not np.allclose(out[0], out[1])


def test_hub_encoder_prepare_then_encode(hub_module):
  module, path = hub_module
  enc = encoders.HubEncoder(handle=str(path))
  texts = tf.constant(CAPTIONS)
  prepared = enc.prepare(texts)
  assert prepared.dtype == tf.float32
  np.testing.assert_allclose(prepared, module(texts), rtol=1e-6)
  np.testing.assert_allclose(enc.encode(prepared), enc(texts), rtol=1e-6)


def test_hub_encoder_flattens_inputs(hub_module):
  module, path = hub_module
  enc = encoders.HubEncoder(handle=str(path))
  texts = tf.constant([[CAPTIONS[0]], [CAPTIONS[1]]])  # [2, 1]
  np.testing.assert_allclose(
    enc(texts), module(tf.reshape(texts, [-1])), rtol=1e-6
  )


def test_hub_encoder_wrong_rank(tmp_path):
  path = tmp_path / "wrong_rank"
  tf.saved_model.save(_WrongRank(), str(path))
  with pytest.raises(
    ValueError,
    match=r"--hub_handle=.*wrong_rank.*"
    r"\[batch, dim\]",
  ):
    encoders.HubEncoder(handle=str(path))
