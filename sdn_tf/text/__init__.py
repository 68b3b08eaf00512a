"""Caption text: in-graph tokenisation, vocabularies and text encoders."""
