"""StreetSight: the CLI and the wiring that assembles streams -> vision -> detectors -> evidence -> api."""

__version__ = "0.1.0"
