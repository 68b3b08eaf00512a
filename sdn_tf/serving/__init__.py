"""Exporting and loading the SavedModel that TF Serving serves."""
