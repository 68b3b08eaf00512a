"""Caption encoders E(t): the text half of the generator.

Three kinds, chosen by `--text_encoder` (docs/METHOD.md, "Text encoder"):
  trainable    in-graph tokenisation and a token embedding, read by the
               architecture `--text_architecture` names:
               `CnnRnnEncoder` (cnn_rnn), a 1-D conv stack and a
               bidirectional GRU, the char-CNN-RNN family of Reed et al.
               (word or char tokens); or `BagOfWordsEncoder`
               (bag_of_words), the mean of the token embeddings, which
               composes word meanings it saw apart (a colour with a shape
               it never named together); both projected to the embedding;
  precomputed  `PrecomputedEncoder`: the caption embeddings that come with
               the data (StackGAN's char-CNN-RNN pickles), used as they are;
  hub          `HubEncoder`: a frozen TF-Hub text-embedding SavedModel
               (handle or local path) loaded with `tensorflow_hub`.

Each encoder says which batch feature it reads (`input_key`): raw caption
strings ("caption") or a precomputed vector ("embedding"). Calling an
encoder is `encode(prepare(inputs))`: `prepare` holds whatever cannot be
compiled by XLA or trained (string ops, a frozen hub module), so the trainer
can run it outside its jit-compiled step.
"""

import keras
from keras import layers
import numpy as np
import tensorflow as tf

from sdn_tf.text import tokenizer as tokenizer_lib


class _TokenEncoder(keras.layers.Layer):
  """Raw strings -> token ids -> [batch, output_dim]; `read` in between.

  Layers are made in the order token embedding, reader, projection: the
  pretrained-encoder cache stores weights in that order.
  """

  input_key = "caption"

  def __init__(
    self,
    tokenizer: tokenizer_lib.CaptionTokenizer,
    output_dim: int = 1024,
    token_dim: int = 128,
    reader_options=None,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.tokenizer = tokenizer
    self.output_dim = output_dim
    self.token_embedding = layers.Embedding(
      tokenizer.num_ids, token_dim, name="token_embedding"
    )
    self.make_reader(**(reader_options or {}))
    self.projection = layers.Dense(output_dim, name="projection")

  def make_reader(self):
    """Creates the layers `read` uses (none by default)."""

  def call(self, texts, training=False):
    return self.encode(self.prepare(texts), training=training)

  def prepare(self, texts):
    """Token ids [batch, max_length] (string ops: not XLA-compilable)."""
    return self.tokenizer(texts)

  def encode(self, ids, training=False):
    """Token ids -> embedding [batch, output_dim]."""
    return self.projection(self.read(ids, training=training))

  def read(self, ids, training=False):
    """Token ids -> one vector per caption, before the projection."""
    raise NotImplementedError

  def fold_output_transform(self, mean: np.ndarray, matrix: np.ndarray):
    """Makes `encode` return `(e - mean) @ matrix` instead of `e`.

    The transform is folded into the projection's kernel and bias, so the
    encoder's structure (and every export of it) stays the same.
    """
    kernel, bias = (
      keras.ops.convert_to_numpy(w)
      for w in (self.projection.kernel, self.projection.bias)
    )
    self.projection.kernel.assign(kernel @ matrix)
    self.projection.bias.assign((bias - mean) @ matrix)

  def get_config(self):
    config = super().get_config()
    config.update(output_dim=self.output_dim)
    return config


class CnnRnnEncoder(_TokenEncoder):
  """Tokens, conv, BiGRU, mean over the caption's steps, projection.

  In char mode the conv stack pools by 3 twice (as char-CNN-RNN does), so
  the GRU reads about a ninth as many steps. As in Reed et al.'s
  char-CNN-RNN, the embedding is the GRU's hidden state averaged over the
  caption's steps, not its last state: every word then reaches the
  embedding directly, which a freshly initialised GRU's last state does
  not give (it forgets the start of the caption).
  """

  def __init__(
    self,
    tokenizer: tokenizer_lib.CaptionTokenizer,
    output_dim: int = 1024,
    token_dim: int = 128,
    conv_filters: int = 256,
    rnn_units: int = 256,
    **kwargs,
  ):
    super().__init__(
      tokenizer,
      output_dim,
      token_dim,
      reader_options=dict(conv_filters=conv_filters, rnn_units=rnn_units),
      **kwargs,
    )

  def make_reader(self, conv_filters: int, rnn_units: int):
    self.pool = 3 if self.tokenizer.mode == "char" else 1
    # Attributes, not a list: Keras 3 leaves list items out of checkpoints.
    self.conv1 = layers.Conv1D(
      conv_filters, 3, padding="same", activation="relu", name="conv1"
    )
    self.conv2 = layers.Conv1D(
      conv_filters, 3, padding="same", activation="relu", name="conv2"
    )
    self.rnn = layers.Bidirectional(
      layers.GRU(rnn_units, return_sequences=True), name="birnn"
    )

  def read(self, ids, training=False):
    mask = tf.cast(tokenizer_lib.padding_mask(ids), tf.float32)[..., None]
    x = self.token_embedding(ids)
    for conv in (self.conv1, self.conv2):
      x = conv(x)
      if self.pool > 1:
        x = tf.nn.max_pool1d(x, self.pool, self.pool, "SAME")
        mask = tf.nn.max_pool1d(mask, self.pool, self.pool, "SAME")
    # An empty caption has no real step; let the GRU see one (all padding)
    # rather than none, which it cannot reduce.
    mask = tf.concat([tf.ones_like(mask[:, :1]), mask[:, 1:]], axis=1)
    x = self.rnn(x, mask=tf.cast(mask[..., 0], tf.bool), training=training)
    mask = tf.cast(mask, x.dtype)
    return tf.reduce_sum(x * mask, axis=1) / tf.reduce_sum(mask, axis=1)


class BagOfWordsEncoder(_TokenEncoder):
  """The mean of the caption's token embeddings, projected.

  Word order is lost, and with it which word a colour binds to; in return
  the embedding of a caption is the mean of its words' vectors, so a pair
  of words never seen together (an orange circle, when only orange squares
  and red circles were) lands where its words point, not where the nearest
  trained sentence does (docs/METHOD_NOTES.md measures both readers).
  """

  def read(self, ids, training=False):
    x = self.token_embedding(ids)
    mask = tf.cast(tokenizer_lib.padding_mask(ids), x.dtype)[..., None]
    # An empty caption reads as the zero vector: the projection's bias.
    count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
    return tf.reduce_sum(x * mask, axis=1) / count


class PrecomputedEncoder(keras.layers.Layer):
  """The identity on precomputed caption embeddings (e.g. char-CNN-RNN)."""

  input_key = "embedding"

  def __init__(self, output_dim: int = 1024, **kwargs):
    super().__init__(**kwargs)
    self.output_dim = output_dim

  def call(self, embeddings, training=False):
    return self.encode(self.prepare(embeddings), training=training)

  def prepare(self, embeddings):
    embeddings = tf.convert_to_tensor(embeddings)
    tf.debugging.assert_equal(
      tf.shape(embeddings)[-1],
      self.output_dim,
      message="precomputed embedding size differs from --embedding_dim",
    )
    return embeddings

  def encode(self, embeddings, training=False):
    return embeddings


class HubEncoder(keras.layers.Layer):
  """A frozen TF-Hub text embedding: raw strings -> [batch, D].

  The module is loaded with `tensorflow_hub.load` (a handle, a URL or a
  local SavedModel path) and called on a [batch] string tensor, the
  contract of TF-Hub's text-embedding modules.
  """

  input_key = "caption"

  def __init__(self, handle: str, **kwargs):
    kwargs.setdefault("trainable", False)
    super().__init__(**kwargs)
    import tensorflow_hub as hub  # only this encoder needs it

    self.handle = handle
    self.module = hub.load(handle)
    probe = self.module(tf.constant(["a"]))
    if probe.shape.rank != 2:
      raise ValueError(
        f"--hub_handle={handle}: expected a text embedding "
        f"module returning [batch, dim], got {probe.shape}"
      )
    self.output_dim = int(probe.shape[-1])

  def call(self, texts, training=False):
    return self.encode(self.prepare(texts), training=training)

  def prepare(self, texts):
    """The frozen module's embedding (string ops: not XLA-compilable)."""
    return tf.cast(self.module(tf.reshape(texts, [-1])), tf.float32)

  def encode(self, embeddings, training=False):
    return tf.cast(embeddings, self.compute_dtype)

  def get_config(self):
    config = super().get_config()
    config.update(handle=self.handle)
    return config
