"""Dataset tools; sample footage (datasets/samples.py)."""
