"""Evidence for incidents: video clips remuxed from encoded packets (never re-encoded), JPEG snapshots
(raw and annotated), and a store that keeps them with a SHA-256 manifest per incident.

Imports none of the analysis packages (models/, vision/, detectors/) nor api/: only PyAV, OpenCV, numpy.
"""
