"""Tiny text-image matching SavedModels with known behaviour, for tests of
R-precision: what `sdn_tf.evaluation.matching_model` loads."""

import tensorflow as tf


class _ColourMatcher(tf.Module):
  """Images embed as their mean RGB; a caption "r g b" as those numbers:
  an image matches exactly the caption that names its colour."""

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
  def encode_images(self, images):
    return tf.reduce_mean(tf.cast(images, tf.float32), axis=[1, 2]) / 255.0

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def encode_text(self, text):
    numbers = tf.strings.to_number(tf.strings.split(text).to_tensor("0"))
    return numbers[:, :3]


class _HashMatcher(tf.Module):
  """Any caption and image embed somewhere: for a smoke test of the flag."""

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
  def encode_images(self, images):
    small = tf.image.resize(tf.cast(images, tf.float32), [2, 2])
    flat = tf.reshape(small, [-1, 12])
    return tf.concat([flat, tf.zeros_like(flat[:, :4])], axis=1)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def encode_text(self, text):
    return tf.one_hot(tf.strings.to_hash_bucket_fast(text, 16), 16)


class _ImagesOnly(tf.Module):
  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
  def encode_images(self, images):
    return tf.reduce_mean(tf.cast(images, tf.float32), axis=[1, 2])


def save(path: str, kind: str = "colour") -> str:
  module = {
    "colour": _ColourMatcher,
    "hash": _HashMatcher,
    "images_only": _ImagesOnly,
  }[kind]()
  tf.saved_model.save(module, path)
  return path
