"""Datasets: sample footage (samples.py) and YOLO dataset tools, offline, no torch.

yolo.py (the format) · validate.py · split.py · stats.py · merge.py · manifest.py (dataset.json, versions)
importers/ (labelme, COCO, Tianchi) · reviews.py (reviewed incidents -> data) · synthetic/ (street scenes)
"""
