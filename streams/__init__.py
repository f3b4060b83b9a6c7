"""Video sources: RTSP and file readers, encoded-packet ring buffers, decoded frames with media time."""
