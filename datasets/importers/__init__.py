"""Importers: other annotation formats -> an unsplit YOLO dataset (then `datasets split`)."""
