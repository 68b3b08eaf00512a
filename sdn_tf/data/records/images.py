"""Which image bytes a prepared data set keeps, re-encodes or skips.

JPEG and PNG are stored as the bytes found on disk; other formats PIL reads
(WebP, BMP, GIF, ...) are re-encoded to PNG, so the input pipeline only ever
sees JPEG or PNG. An image PIL cannot read or decode raises `BadImage`
with the reason it is skipped for.
"""

import dataclasses
import io
import struct

from PIL import Image

from sdn_tf.data import loader_common as common
from sdn_tf.data.captioned_image import CaptionedImage

# What PIL raises on damaged or unsupported files varies by format plugin.
_PIL_ERRORS = (
  OSError,
  SyntaxError,
  ValueError,
  EOFError,
  IndexError,
  KeyError,
  TypeError,
  struct.error,
  Image.DecompressionBombError,
)
# PIL format names whose bytes TensorFlow's JPEG/PNG decoders read as-is
# (MPO is a JPEG with extra frames appended, as some cameras write).
_KEPT_FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}


@dataclasses.dataclass(frozen=True)
class CheckedImage:
  """An image that PIL decoded, as it will be stored."""

  data: bytes  # the encoded bytes to write
  format: str  # "jpeg" or "png"
  reencoded: bool  # True when `data` is a PNG made from another format


class BadImage(Exception):
  """An image PIL cannot read; carries the skip reason."""

  def __init__(self, reason: str, detail: str):
    super().__init__(detail)
    self.reason = reason
    self.detail = detail


def check_image(data: bytes) -> CheckedImage:
  """Validates an encoded image and returns the bytes to store.

  The image is both verified (`Image.verify`, which checks the file's
  structure) and fully decoded, because verify() alone misses truncated
  JPEGs.

  Args:
    data: the encoded image.

  Returns:
    The input bytes for JPEG and PNG, otherwise the image re-encoded as PNG.

  Raises:
    BadImage: PIL cannot identify or decode the image.
  """
  try:
    with Image.open(io.BytesIO(data)) as image:
      image_format = image.format
      image.verify()
    # verify() leaves the image unusable, so decode from a fresh handle.
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      if image_format in _KEPT_FORMATS:
        return CheckedImage(data, _KEPT_FORMATS[image_format], False)
      return CheckedImage(_to_png(image), "png", True)
  except Image.UnidentifiedImageError:
    # PIL's own message names an anonymous BytesIO object; say it plainly.
    raise BadImage(
      common.CORRUPT_IMAGE, "not an image format PIL can identify"
    ) from None
  except _PIL_ERRORS as e:
    raise BadImage(common.CORRUPT_IMAGE, str(e) or type(e).__name__) from None


def _to_png(image: Image.Image) -> bytes:
  """Re-encodes a decoded image as 8-bit RGB(A) PNG."""
  has_alpha = "A" in image.getbands() or "transparency" in image.info
  buffer = io.BytesIO()
  image.convert("RGBA" if has_alpha else "RGB").save(buffer, format="PNG")
  return buffer.getvalue()


def read_image(record: CaptionedImage) -> CheckedImage:
  """Reads and validates a record's image; raises BadImage if unusable."""
  try:
    data = record.read_image_bytes()
  except OSError as e:
    raise BadImage(common.UNREADABLE_IMAGE, e.strerror or str(e)) from None
  return check_image(data)
