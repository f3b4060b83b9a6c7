"""The copy shared with dispatch: heads blurred (found by the real person detector), the original kept;
links that serve it. Photo: OpenCV's messi5.jpg from Debian's opencv-doc (one face, known place)."""
from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from evidence.redact import blur_regions, head_regions
from evidence.s3 import S3EvidenceStore, S3Settings
from evidence.sharing import DERIVED_FROM, FACES_BLURRED, EvidenceSharer
from evidence.snapshot import encode_jpeg
from models.detector import OnnxDetector
from streetsight.evidence_backend import people_finder
from tests.media import encode_h264
from tests.s3_server import SeaweedS3, new_bucket_name
from vision.detection import FrameDetector
from tests.real_parts import missing_real_part

PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
FACE = (slice(92, 124), slice(224, 256))  # rows, columns of the face in messi5.jpg
GRASS = (slice(300, 340), slice(0, 55))  # far from every person's head
PREFIX = "2026/05/01/cam-1/inc_face"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if not PHOTO.exists():
        missing_real_part(f"{PHOTO} missing (Debian opencv-doc, installed by bin/_bootstrap.sh)")
    return cv2.imread(str(PHOTO))


@pytest.fixture(scope="module")
def find_people():
    return people_finder(FrameDetector(OnnxDetector.from_registry("nanodet-coco", min_score=0.3)))


@pytest.fixture
def store(s3_server: SeaweedS3) -> S3EvidenceStore:
    return S3EvidenceStore.from_settings(S3Settings(
        endpoint=s3_server.endpoint, bucket=new_bucket_name("share"), access_key=s3_server.access_key,
        secret_key=s3_server.secret_key, secure=False))


def diff(a: np.ndarray, b: np.ndarray, region) -> float:
    return float(np.abs(a[region].astype(np.int16) - b[region].astype(np.int16)).mean())


def sharpness(image: np.ndarray, region) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image[region], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def test_head_regions_cover_the_top_of_each_person_box() -> None:
    assert head_regions([(100, 100, 140, 200)], (480, 640, 3)) == [(95, 95, 145, 125)]
    # clipped to the image; a box outside it gives nothing
    assert head_regions([(0, 0, 10, 4), (700, 500, 800, 600)], (480, 640, 3)) == [(0, 0, 11, 1)]
    image = np.random.default_rng(0).integers(0, 255, (50, 50, 3), np.uint8)
    out = blur_regions(image, [(10, 10, 30, 30)])
    assert np.array_equal(out[:10], image[:10]) and not np.array_equal(out[10:30, 10:30], image[10:30, 10:30])


def test_shared_snapshot_has_the_face_blurred_and_the_original_is_kept(store, photo, find_people) -> None:
    original = store.put_bytes(f"{PREFIX}/snapshot.jpg", encode_jpeg(photo), "image/jpeg",
                               {"source": "cam-1", "event_type": "street_vending"})
    original_bytes = store.open(original.key).read()
    sharer = EvidenceSharer(store, blur_faces=True, find_people=find_people, expires_s=60)

    shared = sharer.share(original.key)
    assert shared.key == f"{PREFIX}/shared/snapshot.jpg" and shared.original_key == original.key
    assert shared.faces_blurred >= 1
    served = fetch(shared.url)
    assert hashlib.sha256(served).hexdigest() == shared.sha256
    before = cv2.imdecode(np.frombuffer(original_bytes, np.uint8), cv2.IMREAD_COLOR)
    after = cv2.imdecode(np.frombuffer(served, np.uint8), cv2.IMREAD_COLOR)
    assert diff(before, after, FACE) > 15  # the face changed ...
    assert sharpness(after, FACE) < 0.1 * sharpness(before, FACE)  # ... into a blur
    assert diff(before, after, GRASS) < 3  # the rest is the same picture (JPEG noise only)
    meta = store.metadata(shared.key)
    assert meta[DERIVED_FROM] == original.sha256 and int(meta[FACES_BLURRED]) >= 1
    assert meta["event_type"] == "street_vending"

    # the original is untouched, and sharing again reuses the copy
    assert store.open(original.key).read() == original_bytes and store.stat(original.key) == original
    assert sharer.share(original.key).sha256 == shared.sha256


def test_shared_clip_has_faces_blurred_in_every_frame(store, photo, find_people, tmp_path: Path) -> None:
    video = encode_h264(tmp_path / "clip.mp4", seconds=1, fps=5, size=(photo.shape[1], photo.shape[0]),
                        gop=5, frame_fn=lambda i, t: photo)
    original = store.put_file(f"{PREFIX}/clip.mp4", video, "video/mp4", {"source": "cam-1"})
    store.protect([original.key])  # a case's clip: its shared copy is protected too
    shared = EvidenceSharer(store, blur_faces=True, find_people=find_people).share(original.key)
    assert shared.key.endswith("/shared/clip.mp4") and shared.content_type == "video/mp4"
    assert store.is_protected(shared.key)
    (tmp_path / "shared.mp4").write_bytes(fetch(shared.url))
    with av.open(str(video)) as a, av.open(str(tmp_path / "shared.mp4")) as b:
        frames_a = [f.to_ndarray(format="bgr24") for f in a.decode(video=0)]
        frames_b = [f.to_ndarray(format="bgr24") for f in b.decode(video=0)]
    assert len(frames_a) == len(frames_b) == 5
    for fa, fb in zip(frames_a, frames_b):
        assert diff(fa, fb, FACE) > 15 and diff(fa, fb, GRASS) < 6
    assert hashlib.sha256(video.read_bytes()).hexdigest() == store.stat(original.key).sha256


def test_without_blurring_the_original_itself_is_shared(store, photo) -> None:
    original = store.put_bytes(f"{PREFIX}/snapshot_raw.jpg", encode_jpeg(photo), "image/jpeg")
    shared = EvidenceSharer(store).share(original.key)
    assert (shared.key, shared.faces_blurred, shared.sha256) == (original.key, None, original.sha256)
    assert hashlib.sha256(fetch(shared.url)).hexdigest() == original.sha256
    with pytest.raises(ValueError, match="find_people"):
        EvidenceSharer(store, blur_faces=True)


def test_a_matroska_clip_is_shared_blurred_as_h264_mp4(store, photo, find_people, tmp_path: Path) -> None:
    """Clips of codecs MP4 does not take (MS-MPEG4 from old recorders) lie in Matroska: blurred all the same."""
    from evidence.clip import write_clip

    source = tmp_path / "camera.avi"
    with av.open(str(source), "w", format="avi") as out:
        stream = out.add_stream("msmpeg4v3", rate=5)
        stream.width, stream.height, stream.pix_fmt = photo.shape[1], photo.shape[0], "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(photo, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(source)) as c:
        clip = write_clip([p for p in c.demux(c.streams.video[0]) if p.size], c.streams.video[0], tmp_path / "clip.mp4")
    assert clip.path.suffix == ".mkv"
    original = store.put_file(f"{PREFIX}/clip.mkv", clip.path, "video/x-matroska", {"source": "cam-1"})
    shared = EvidenceSharer(store, blur_faces=True, find_people=find_people).share(original.key)
    assert shared.key.endswith("/shared/clip.mp4") and shared.content_type == "video/mp4"
    assert shared.faces_blurred and shared.faces_blurred > 0
    (tmp_path / "shared.mp4").write_bytes(fetch(shared.url))
    with av.open(str(tmp_path / "shared.mp4")) as b:
        assert b.streams.video[0].codec_context.name == "h264"
        frames = [f.to_ndarray(format="bgr24") for f in b.decode(video=0)]
    assert len(frames) == 5 and all(diff(photo, f, FACE) > 15 for f in frames)
