"""Caption text: in-graph tokenisation, vocabularies and text encoders."""

# The options this package implements, as the flags name them. Kept here,
# free of TensorFlow, so that `sdn_tf.config` (and so `--help`) can import
# them without loading TensorFlow.
ENCODERS = ("trainable", "precomputed", "hub")  # encoders.py
# How the trainable encoder reads its tokens (encoders.py).
ARCHITECTURES = ("cnn_rnn", "bag_of_words")
TOKENIZER_MODES = ("word", "char")  # vocab.py and tokenizer.py
