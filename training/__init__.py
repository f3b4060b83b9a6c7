"""Training (offline; the `train` extra). Never imported by serving."""
