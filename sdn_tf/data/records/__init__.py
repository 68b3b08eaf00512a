"""The prepared data set: TFRecords of tf.train.Examples, vocabulary, metadata.

`schema` (feature keys, encoding and parsing an Example), `images` (which
image bytes are kept, which re-encoded, which skipped) and `writer`
(sharding, tallies, publishing a finished directory).
"""
