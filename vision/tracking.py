"""Multi-object tracking per source (supervision's ByteTrack), parameterised in seconds, not frames."""
from __future__ import annotations

import warnings

import supervision as sv

with warnings.catch_warnings():
    # supervision 0.28-0.30 warn that ByteTrack moves to the `trackers` package; the API is unchanged.
    warnings.simplefilter("ignore", FutureWarning)
    from supervision import ByteTrack as _ByteTrack


class Tracker:
    """Assigns stable ``tracker_id``s to detections of one source; class data is carried through."""

    def __init__(self, analysis_fps: float, lost_after_s: float = 10.0, activation_threshold: float = 0.25,
                 matching_threshold: float = 0.8) -> None:
        fps = max(analysis_fps, 0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            # ByteTrack keeps lost tracks for frame_rate/30 * lost_track_buffer frames.
            self._bt = _ByteTrack(
                track_activation_threshold=activation_threshold,
                lost_track_buffer=max(1, int(round(lost_after_s * 30))),
                minimum_matching_threshold=matching_threshold,
                frame_rate=fps,
                minimum_consecutive_frames=1,
            )

    def update(self, detections: sv.Detections) -> sv.Detections:
        return self._bt.update_with_detections(detections)
