"""Recorded footage of enforcement devices (issue 18): upload intake, position tracks, analysis jobs."""
