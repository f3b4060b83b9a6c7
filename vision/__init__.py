"""Analysis of frames: detection into supervision `Detections`, tracking, zones."""
