"""The student: VGG19 mirrored, drawing an image from a caption embedding.

Data flows the teacher's way reversed. Each student layer mirrors one
teacher layer: its output has exactly that layer's shape and it is named
after it with a `_mirror` suffix (`vgg_spec` describes the teacher once; the
layers here are derived from it):

  [e; z] -> fc7_mirror -> fc6_mirror -> block5_pool_mirror (dense, reshape)
  a pool's mirror inputs up-sample 2x; a conv's mirror is a 3x3 conv whose
  filters are those of the teacher layer *below* it (its input), so that the
  data reaches `input_mirror`, the image in the teacher's input space.

Normalisation (plain or conditioned on the text embedding), the up-sampling
method and the fc width are options; the layer-by-layer symmetry is not.
"""

from typing import Dict, Optional, Sequence

import keras
from keras import layers
from keras import ops

from sdn_tf.models import vgg_spec

NORMALIZATIONS = ("none", "batch", "instance")
UPSAMPLINGS = ("nearest", "bilinear")


class ConditionalNormalization(layers.Layer):
  """Batch or instance normalisation with an optional text-computed affine.

  With a condition `c`, the scale and shift are `1 + Dense(c)` and
  `Dense(c)` (zero-initialised, so training starts from plain
  normalisation): the caption chooses how every feature map is modulated.
  """

  def __init__(self, kind: str, conditional: bool, epsilon: float = 1e-5,
               momentum: float = 0.99, **kwargs):
    super().__init__(**kwargs)
    if kind not in ("batch", "instance"):
      raise ValueError(f"unknown normalisation {kind!r}")
    self.kind = kind
    self.conditional = conditional
    self.epsilon = epsilon
    self.momentum = momentum

  def build(self, x_shape, condition_shape=None):
    channels = x_shape[-1]
    if self.kind == "batch":
      # Keras' layer keeps the moving statistics used at inference.
      self.norm = layers.BatchNormalization(
          momentum=self.momentum, epsilon=self.epsilon,
          center=not self.conditional, scale=not self.conditional,
          name="bn")
      self.norm.build(x_shape)
    elif not self.conditional:
      self.gamma = self.add_weight(shape=(channels,), initializer="ones",
                                   name="gamma")
      self.beta = self.add_weight(shape=(channels,), initializer="zeros",
                                  name="beta")
    if self.conditional:
      self.to_scale = layers.Dense(channels, kernel_initializer="zeros",
                                   name="to_scale")
      self.to_shift = layers.Dense(channels, kernel_initializer="zeros",
                                   name="to_shift")

  def call(self, x, condition=None, training=False):
    if self.kind == "batch":
      x = self.norm(x, training=training)
    else:
      mean, variance = ops.moments(x, axes=(1, 2), keepdims=True)
      x = (x - mean) * ops.rsqrt(variance + self.epsilon)
      if not self.conditional:
        x = x * self.gamma + self.beta
    if self.conditional:
      scale = 1.0 + self.to_scale(condition)[:, None, None, :]
      shift = self.to_shift(condition)[:, None, None, :]
      x = x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(kind=self.kind, conditional=self.conditional,
                  epsilon=self.epsilon, momentum=self.momentum)
    return config


class MirrorConv(layers.Layer):
  """3x3 conv, optional (conditional) normalisation, then ReLU (or linear)."""

  def __init__(self, filters: int, normalization: str = "none",
               conditional: bool = False, activation: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.filters = filters
    self.normalization = normalization
    self.conditional = conditional
    self.activation = activation
    use_norm = normalization != "none"
    self.conv = layers.Conv2D(filters, 3, padding="same", use_bias=not use_norm,
                              name="conv")
    self.norm = (ConditionalNormalization(normalization, conditional,
                                          name="norm") if use_norm else None)

  def call(self, x, condition=None, training=False):
    x = self.conv(x)
    if self.norm is not None:
      x = self.norm(x, condition, training=training)
    return ops.relu(x) if self.activation else x

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, normalization=self.normalization,
                  conditional=self.conditional, activation=self.activation)
    return config


class Student(keras.Model):
  """The generator G(e, z): returns the image and all 22 mirror activations.

  Calling it gives a dict: `"image"` (the drawn image in the teacher's input
  space, identical to `"input"`) and one entry per mirror point name.
  """

  def __init__(self, image_size: int = 64, embedding_dim: int = 1024,
               noise_dim: int = 0, fc_units: int = 4096,
               normalization: str = "none", conditional_norm: bool = False,
               upsampling: str = "nearest", **kwargs):
    super().__init__(**kwargs)
    vgg_spec.validate_image_size(image_size)
    if normalization not in NORMALIZATIONS:
      raise ValueError(f"unknown normalisation {normalization!r}; "
                       f"expected one of {NORMALIZATIONS}")
    if upsampling not in UPSAMPLINGS:
      raise ValueError(f"unknown up-sampling {upsampling!r}; "
                       f"expected one of {UPSAMPLINGS}")
    if conditional_norm and normalization == "none":
      raise ValueError("conditional normalisation needs a normalisation")
    self.image_size = image_size
    self.embedding_dim = embedding_dim
    self.noise_dim = noise_dim
    self.fc_units = fc_units
    self.normalization = normalization
    self.conditional_norm = conditional_norm
    self.upsampling = upsampling

    self.fc7_mirror = layers.Dense(fc_units, activation="relu",
                                   name="fc7_mirror")
    self.fc6_mirror = layers.Dense(fc_units, activation="relu",
                                   name="fc6_mirror")
    top = vgg_spec.MIRROR_POINTS[-1]
    self._top_shape = top.shape(image_size)
    self.top_mirror = layers.Dense(
        self._top_shape[0] * self._top_shape[1] * self._top_shape[2],
        activation="relu", name=top.mirror_name)
    # Every other point, top-down; each layer's output has the point's shape.
    self.mirror_layers = [self._mirror_layer(p)
                          for p in reversed(vgg_spec.MIRROR_POINTS[:-1])]

  def _mirror_layer(self, point: vgg_spec.MirrorPoint) -> layers.Layer:
    """The layer producing `point`'s shape from the point above it."""
    above = vgg_spec.MIRROR_POINTS[vgg_spec.POINT_NAMES.index(point.name) + 1]
    if above.kind == "pool":
      # Undo the pool: same channels, twice the size.
      return layers.UpSampling2D(2, interpolation=self.upsampling,
                                 name=point.mirror_name)
    return MirrorConv(point.channels, self.normalization,
                      self.conditional_norm,
                      activation=point.kind != "input",
                      name=point.mirror_name)

  def call(self, embedding, noise=None, training=False) -> Dict:
    condition = embedding
    if self.noise_dim:
      if noise is None:
        raise ValueError(f"this student needs noise of size {self.noise_dim}")
      condition = ops.concatenate([embedding, ops.cast(noise, embedding.dtype)],
                                  axis=-1)
    x = self.fc6_mirror(self.fc7_mirror(condition))
    x = ops.reshape(self.top_mirror(x), (-1,) + self._top_shape)
    outputs = {vgg_spec.MIRROR_POINTS[-1].name: x}
    for layer in self.mirror_layers:
      if isinstance(layer, MirrorConv):
        x = layer(x, condition, training=training)
      else:
        x = layer(x)
      outputs[layer.name[:-len("_mirror")]] = x
    outputs["image"] = x
    return outputs

  @property
  def _default_save_signature(self):
    # Exports use explicit signatures (sdn_tf.serving); Keras' guessed one
    # cannot express the optional noise input.
    return None

  def build_for(self, batch_size: Optional[int] = None) -> None:
    """Creates the variables (needed under a distribution strategy's scope)."""
    embedding = ops.zeros((batch_size or 1, self.embedding_dim))
    noise = ops.zeros((batch_size or 1, self.noise_dim)) if self.noise_dim else None
    self(embedding, noise)

  def get_config(self):
    config = super().get_config()
    config.update(image_size=self.image_size, embedding_dim=self.embedding_dim,
                  noise_dim=self.noise_dim, fc_units=self.fc_units,
                  normalization=self.normalization,
                  conditional_norm=self.conditional_norm,
                  upsampling=self.upsampling)
    return config


def mirror_names(student: Student) -> Sequence[str]:
  """Names of the student's mirror layers, top-down."""
  return [student.top_mirror.name] + [l.name for l in student.mirror_layers]
