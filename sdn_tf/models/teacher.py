"""The frozen VGG19 teacher and the image space it works in.

The teacher is `keras.applications.VGG19(include_top=False)` at the training
resolution, rewired so that it returns the activation of every mirror point
(see `vgg_spec`) by VGG19's own layer names, optionally with average pooling
in place of max pooling (the reference implementation's choice; the weights
are the same either way).

The teacher takes images in its *input space*: Keras' caffe preprocessing
(RGB->BGR, ImageNet mean subtracted) or the reference's raw 0..255 RGB. The
student draws in that same space (its `input_mirror` output), so that a
generated image can go straight through the teacher in Stage II.
"""

import hashlib
from typing import Dict
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from sdn_tf.models import INPUT_SCALINGS
from sdn_tf.models import POOLINGS
from sdn_tf.models import vgg_spec
from sdn_tf.utils import files

# ImageNet channel means in BGR order, as in keras.applications' caffe mode.
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def to_teacher_space(images: tf.Tensor, input_scaling: str) -> tf.Tensor:
  """Maps RGB images in 0..255 into the teacher's input space."""
  images = tf.cast(images, tf.float32)
  if input_scaling == "caffe":
    return images[..., ::-1] - _CAFFE_MEAN_BGR
  if input_scaling == "raw":
    return images
  raise ValueError(
    f"unknown input scaling {input_scaling!r}; expected one of {INPUT_SCALINGS}"
  )


def from_teacher_space(images: tf.Tensor, input_scaling: str) -> tf.Tensor:
  """Inverse of `to_teacher_space`: float RGB in 0..255, not clipped."""
  images = tf.cast(images, tf.float32)
  if input_scaling == "caffe":
    return (images + _CAFFE_MEAN_BGR)[..., ::-1]
  if input_scaling == "raw":
    return images
  raise ValueError(
    f"unknown input scaling {input_scaling!r}; expected one of {INPUT_SCALINGS}"
  )


def to_uint8_rgb(images: tf.Tensor, input_scaling: str) -> tf.Tensor:
  """Converts images in the teacher's space to displayable uint8 RGB."""
  rgb = from_teacher_space(images, input_scaling)
  return tf.cast(tf.round(tf.clip_by_value(rgb, 0.0, 255.0)), tf.uint8)


def build_vgg19(image_size: int, weights=None) -> keras.Model:
  """Keras' own VGG19 without the classifier, at `image_size` x `image_size`.

  Args:
    image_size: input side in pixels, a multiple of 32.
    weights: None (random), "imagenet" or the path of a weights file.
  """
  vgg_spec.validate_image_size(image_size)
  return keras.applications.VGG19(
    include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
  )


def identity(
  weights: Optional[str], image_size: int, pooling: str, input_scaling: str
) -> str:
  """What the teacher's features depend on, as one string: the weights by
  content (a file's digest), not by name, so that a teacher pretrained
  again under the same flags counts as another teacher."""
  if weights is None or weights == "imagenet":
    source = str(weights)
  else:
    source = "sha256:" + hashlib.sha256(files.read_bytes(weights)).hexdigest()
  return f"{source} {image_size}px {pooling} pooling, {input_scaling} input"


def tap_mirror_points(vgg: keras.Model, pooling: str = "avg") -> keras.Model:
  """Rewires a Keras VGG19 to return all 22 mirror-point activations.

  The conv layers (and so the weights) are shared with `vgg`; with
  `pooling="avg"` each max pool is replaced by an average pool of the same
  name.
  """
  if pooling not in POOLINGS:
    raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
  image = keras.Input(shape=vgg.input_shape[1:], name="image")
  outputs = {"input": image}
  x = image
  for point in vgg_spec.MIRROR_POINTS[1:]:
    layer = vgg.get_layer(point.name)
    if point.kind == "pool" and pooling == "avg":
      layer = keras.layers.AveragePooling2D(2, 2, name=point.name)
    x = layer(x)
    outputs[point.name] = x
  return keras.Model(image, outputs, name="teacher")


def build_teacher(
  image_size: int, weights=None, pooling: str = "avg"
) -> keras.Model:
  """The frozen teacher: image in teacher space -> {point name: activation}.

  Call it with `training=False`; none of its variables is trainable.
  """
  teacher = tap_mirror_points(build_vgg19(image_size, weights), pooling)
  teacher.trainable = False
  return teacher


def activations(
  teacher: keras.Model, images: tf.Tensor
) -> Dict[str, tf.Tensor]:
  """Teacher activations of `images` (in teacher space), never trained."""
  return teacher(images, training=False)
