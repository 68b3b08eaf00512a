"""R-precision's matching model: loaded from a SavedModel, checked for the
two functions it must have, and scored on a known answer."""

import numpy as np
import pytest

from sdn_tf.evaluation import matching_model
from sdn_tf.evaluation import metrics
from tests.evaluation import tiny_matching_model


def test_images_drawn_in_the_named_colour_rank_their_caption_first(tmp_path):
  model = matching_model.MatchingModel(
    tiny_matching_model.save(str(tmp_path / "colour"))
  )
  rng = np.random.default_rng(0)
  colours = rng.integers(30, 226, size=(150, 3))
  images = np.broadcast_to(colours[:, None, None, :], (150, 8, 8, 3)).astype(
    np.uint8
  )
  captions = [" ".join(f"{c / 255:.4f}" for c in colour) for colour in colours]
  image_features = model.image_features(images)
  text_features = model.text_features(captions)
  assert image_features.shape == text_features.shape == (150, 3)
  assert metrics.r_precision(image_features, text_features)[0] == 1.0
  # The same images against shuffled captions: about 1 in 100 by chance.
  shuffled = text_features[rng.permutation(150)]
  assert metrics.r_precision(image_features, shuffled)[0] < 0.1


def test_a_model_without_both_functions_is_refused(tmp_path):
  path = tiny_matching_model.save(str(tmp_path / "half"), "images_only")
  with pytest.raises(ValueError, match="no encode_text"):
    matching_model.MatchingModel(path)
  with pytest.raises(FileNotFoundError, match="no such SavedModel"):
    matching_model.MatchingModel(str(tmp_path / "missing"))
