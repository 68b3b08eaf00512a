"""Training: everything between prepared data and a trained generator."""
