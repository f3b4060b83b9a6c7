"""Model layer: registered ONNX models, their manifests, and the detector that runs them.

Bottom layer of StreetSight: imports none of the project's other packages.
"""
from models.detector import OnnxDetector, RawDetections
from models.manifest import ManifestError, ModelManifest
from models.registry import ModelNotFound, find_model, list_models, load_manifest, register_model

__all__ = ["OnnxDetector", "RawDetections", "ModelManifest", "ManifestError", "ModelNotFound",
           "find_model", "list_models", "load_manifest", "register_model"]
