"""Few-shot bin-state classifier: is this camera's bin region full (overflowing) or not?

Trained in about a second on a CPU from a handful of labelled crops of one camera's bin region
(``<dir>/full/*.jpg`` and ``<dir>/not_full/*.jpg``; later the crops of reviewers' confirmed and rejected
incidents). The default features were chosen by measured few-shot accuracy (`compare_features` on rendered
bin crops with varied light, noise, shift, JPEG and bin colour; 3/5/10 crops per state, 60 crops of three
bin colours, 10 draws, the same draws for every feature set; ``bin_crops(30, seed=100)``):
MobileNetV2 ImageNet embeddings (vision/embedding.py) 0.99/1.00/1.00, colour histograms 0.88/0.98/0.98,
orientation histograms (HOG) 0.84/0.87/0.97, both 0.84/0.94/0.99, a 16x16 thumbnail 0.62/0.63/0.78.
On two more crop sets (seeds 900 and 7) embeddings 0.94-0.97/1.00/0.995-1.00, colour 0.90-0.91/0.96-0.99/0.98.
An embedding costs ~20 ms per crop on one busy
CPU core, the histograms well under 1 ms. Rendered crops are not a camera's: re-measure on real crops
(`compare_features`) before trusting the choice.
The classifier is scikit-learn's logistic regression on standardised features.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vision.embedding import shared_embedder

CROP_SIZE = 64
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _prepare(crop: np.ndarray) -> np.ndarray:
    if crop.size == 0:
        raise ValueError("empty crop")
    return cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)


def colour_features(crop: np.ndarray) -> np.ndarray:
    """HSV histogram (hue x saturation) plus a value histogram, with brightness normalised away."""
    hsv = cv2.cvtColor(_prepare(crop), cv2.COLOR_BGR2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [12, 4], [0, 180, 0, 256]).ravel()
    v = hsv[..., 2].astype(np.float32)
    v = (v - v.mean()) / (v.std() + 1e-6)
    vh, _ = np.histogram(v, bins=8, range=(-3, 3))
    return np.concatenate([hs / max(hs.sum(), 1.0), vh / max(vh.sum(), 1)]).astype(np.float32)


def texture_features(crop: np.ndarray) -> np.ndarray:
    """HOG of the grey crop: the outline of a closed lid versus a heap of bags."""
    grey = cv2.equalizeHist(cv2.cvtColor(_prepare(crop), cv2.COLOR_BGR2GRAY)).astype(np.float32)
    return orientation_histograms(grey)


def orientation_histograms(grey: np.ndarray, cell: int = 8, bins: int = 9) -> np.ndarray:
    """HOG (Dalal & Triggs) without block overlap: unsigned gradient orientation histograms per cell,
    weighted by magnitude, L2-normalised per 2x2 cells. (OpenCV 5 dropped its HOGDescriptor.)"""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=1)
    magnitude, angle = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    index = (np.mod(angle, 180.0) / (180.0 / bins)).astype(int) % bins
    ch, cw = grey.shape[0] // cell, grey.shape[1] // cell
    hist = np.zeros((ch, cw, bins), np.float32)
    cells_y = np.arange(ch * cell) // cell
    cells_x = np.arange(cw * cell) // cell
    np.add.at(hist, (cells_y[:, None], cells_x[None, :], index[:ch * cell, :cw * cell]),
              magnitude[:ch * cell, :cw * cell])
    blocks = hist.reshape(ch // 2, 2, cw // 2, 2, bins).transpose(0, 2, 1, 3, 4).reshape(ch // 2, cw // 2, -1)
    blocks /= np.linalg.norm(blocks, axis=2, keepdims=True) + 1e-6
    return blocks.ravel()


def thumbnail_features(crop: np.ndarray) -> np.ndarray:
    """The crop itself at 16x16 (a baseline to beat)."""
    small = cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return (small - small.mean()).ravel()


def embedding_features(crops: Sequence[np.ndarray]) -> np.ndarray:
    """MobileNetV2 ImageNet embeddings of the crops (one batched model call), L2-normalised."""
    for crop in crops:
        if crop.size == 0:
            raise ValueError("empty crop")
    return shared_embedder().embed(list(crops))


Extractor = Callable[[Sequence[np.ndarray]], np.ndarray]  # crops -> float32 [N, D]


def _per_crop(feature: Callable[[np.ndarray], np.ndarray]) -> Extractor:
    return lambda crops: np.stack([feature(c) for c in crops])


FEATURES: dict[str, Extractor] = {
    "embedding": embedding_features,
    "colour": _per_crop(colour_features),
    "texture": _per_crop(texture_features),
    "thumbnail": _per_crop(thumbnail_features),
    "colour+texture": _per_crop(lambda c: np.concatenate([colour_features(c), texture_features(c)])),
}
DEFAULT_FEATURES = "embedding"


def _new_model(standardise: bool = True):
    # unit-length embeddings left unscaled differ by ~0.01 per feature: a weaker penalty lets the
    # probabilities reach the rule's threshold (min_score 0.6) instead of hovering at 0.5
    scaler = StandardScaler(with_std=standardise)
    c = 1.0 if standardise else 1000.0
    return make_pipeline(scaler, LogisticRegression(C=c, class_weight="balanced", max_iter=2000))


class BinStateClassifier:
    """``standardise=False`` for a handful of stored (float16) embeddings: scaling each feature by its spread over
    two or three examples blows their rounding up into differences as large as real ones (a reviewer's two
    examples, one per state, then judged every new crop "not full")."""

    def __init__(self, features: str = DEFAULT_FEATURES, standardise: bool = True) -> None:
        if features not in FEATURES:
            raise ValueError(f"unknown features {features!r}; known: {sorted(FEATURES)}")
        self.features = features
        self._extract = FEATURES[features]
        self._model = _new_model(standardise)
        self.trained = False

    def fit(self, crops: Sequence[np.ndarray], full: Sequence[bool]) -> "BinStateClassifier":
        return self.fit_features(self._extract(list(crops)), full)

    def fit_features(self, features: np.ndarray, full: Sequence[bool]) -> "BinStateClassifier":
        """Train on features already extracted with this classifier's feature set (e.g. the embeddings a
        taught example keeps), so a reviewer's examples retrain it without their crops."""
        labels = np.asarray(full, dtype=int)
        if len(set(labels.tolist())) < 2:
            raise ValueError("need labelled crops of both states (full and not full)")
        self._model.fit(np.asarray(features, np.float32), labels)
        self.trained = True
        return self

    def probability_full(self, crop: np.ndarray) -> float:
        return float(self._model.predict_proba(self._extract([crop]))[0, 1])

    @classmethod
    def from_folder(cls, folder: str | Path, features: str = DEFAULT_FEATURES,
                    states: tuple[str, str] = ("full", "not_full")) -> "BinStateClassifier":
        """Train from ``folder/<positive state>`` and ``folder/<negative state>`` (``states``; a bin's by default,
        e.g. ("uncovered", "covered") for a truck bed); a clear error names what is missing."""
        folder = Path(folder)
        crops: list[np.ndarray] = []
        labels: list[bool] = []
        for sub, full in ((states[0], True), (states[1], False)):
            d = folder / sub
            files = sorted(f for f in d.glob("*") if f.suffix.lower() in IMAGE_SUFFIXES) if d.is_dir() else []
            if not files:
                raise ValueError(f"{d}: no labelled crops (put images of the region there)")
            for f in files:
                img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if img is None:
                    raise ValueError(f"{f}: not a readable image")
                crops.append(img)
                labels.append(full)
        return cls(features).fit(crops, labels)


def compare_features(crops: Sequence[np.ndarray], full: Sequence[bool], shots: int = 5, repeats: int = 20,
                     seed: int = 0) -> dict[str, float]:
    """Few-shot accuracy of each feature set: train on ``shots`` crops per state, test on the rest.
    Every feature set sees the same draws; each crop's features are computed once."""
    labels = np.asarray(full, dtype=bool)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    rng = np.random.default_rng(seed)
    draws = [np.concatenate([rng.choice(pos, shots, replace=False), rng.choice(neg, shots, replace=False)])
             for _ in range(repeats)]
    result: dict[str, float] = {}
    for name, extract in FEATURES.items():
        x = extract(list(crops))
        correct = total = 0
        for train in draws:
            test = np.setdiff1d(np.arange(len(labels)), train)
            pred = _new_model().fit(x[train], labels[train].astype(int)).predict_proba(x[test])[:, 1] >= 0.5
            correct += int((pred == labels[test]).sum())
            total += len(test)
        result[name] = correct / total
    return result
