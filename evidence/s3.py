"""Evidence in MinIO / S3 through the ``minio`` SDK: the same keys as the local store
(``YYYY/MM/DD/<source>/<incident>/<name>``), user metadata (source, event type, times, sha256) as
``x-amz-meta-*``, protection by object-lock legal hold (or a tag where the bucket has no object lock),
presigned GET URLs.

Tested against SeaweedFS (standing in for MinIO). Differences handled here: an existing bucket is
``BucketAlreadyExists`` on SeaweedFS and ``BucketAlreadyOwnedByYou`` on MinIO/AWS; metadata keys come
back case-preserved from one, canonicalised from the other (we lower-case them).

This store does not spool: wrap it in :class:`evidence.spool.SpoolingEvidenceStore` so that an outage
never loses evidence.
"""
from __future__ import annotations

import io
import logging
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Mapping

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import Tags
from minio.error import S3Error

from common.hashing import CHUNK, sha256_bytes, sha256_file
from evidence.signing import check_expiry
from evidence.store import (
    CREATED_AT,
    SHA256,
    ObjectEntry,
    StoredObject,
    resolve_targets,
    utc_now_iso,
    validate_key,
)

log = logging.getLogger(__name__)

META_PREFIX = "x-amz-meta-"
PROTECT_TAG = "streetsight-protected"
EXISTING_BUCKET = {"BucketAlreadyExists", "BucketAlreadyOwnedByYou"}
MISSING_OBJECT = {"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"}
IN_MEMORY_MAX = 8 << 20  # open(): objects up to this size stay in memory, larger ones spill to disk


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # host:port, no scheme
    bucket: str
    access_key: str
    secret_key: str
    secure: bool = True
    region: str = "us-east-1"
    public_endpoint: str | None = None  # host:port that browsers and dispatch reach, for presigned URLs
    object_lock: bool = False  # create the bucket with object lock, so protection is a legal hold
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 30.0

    def __repr__(self) -> str:  # the secret never reaches a log line through repr()
        return (f"S3Settings(endpoint={self.endpoint!r}, bucket={self.bucket!r}, secure={self.secure}, "
                f"region={self.region!r}, object_lock={self.object_lock})")

    def client(self, endpoint: str | None = None) -> Minio:
        # Short timeouts and one retry: a dead server must fail fast so the evidence goes to the spool
        # instead of holding up the pipeline (the SDK's default is 5 min and 5 retries).
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=self.connect_timeout_s, read=self.read_timeout_s),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        return Minio(endpoint or self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                     secure=self.secure, region=self.region, http_client=http)


class S3EvidenceStore:
    """An :class:`~evidence.store.ManagedEvidenceStore` on one S3 bucket.

    The bucket is created (or found) on first use, not in the constructor, so a store can be built
    while the server is down.
    """

    def __init__(self, client: Minio, bucket: str, *, presign_client: Minio | None = None,
                 object_lock: bool = False) -> None:
        self.client = client
        self.bucket = bucket
        self._presign_client = presign_client or client
        self.object_lock = object_lock
        self._ready = False
        self._lock = threading.Lock()
        self.legal_hold = False  # known after ensure_bucket(): does the bucket have object lock?
        self.versioned = False

    @classmethod
    def from_settings(cls, settings: S3Settings) -> "S3EvidenceStore":
        client = settings.client()
        presign = settings.client(settings.public_endpoint) if settings.public_endpoint else client
        return cls(client, settings.bucket, presign_client=presign, object_lock=settings.object_lock)

    def __repr__(self) -> str:
        return f"S3EvidenceStore(bucket={self.bucket!r})"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # -- bucket ----------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket, or accept the one that exists; learn whether it has object lock."""
        with self._lock:
            if self._ready:
                return
            try:
                self.client.make_bucket(self.bucket, object_lock=self.object_lock)
                log.info("created evidence bucket %s (object lock %s)", self.bucket, self.object_lock)
            except S3Error as exc:
                if exc.code not in EXISTING_BUCKET:
                    raise
                # AWS answers BucketAlreadyExists for someone else's bucket too: check we can use it
                if not self.client.bucket_exists(self.bucket):
                    raise
            self.legal_hold = self._has_object_lock()
            self.versioned = self.client.get_bucket_versioning(self.bucket).status == "Enabled"
            self._ready = True

    def _has_object_lock(self) -> bool:
        try:
            self.client.get_object_lock_config(self.bucket)
            return True
        except S3Error as exc:
            if exc.code in {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}:
                return False
            raise

    # -- writes ----------------------------------------------------------------------------------

    def put_file(self, key: str, path: str | Path, content_type: str,
                 metadata: Mapping[str, str] | None = None) -> StoredObject:
        sha256, size = sha256_file(path)  # a pass before the upload: the digest goes in the headers
        with open(path, "rb") as f:
            return self._put(key, f, size, sha256, content_type, metadata)

    def put_bytes(self, key: str, data: bytes, content_type: str,
                  metadata: Mapping[str, str] | None = None) -> StoredObject:
        return self._put(key, io.BytesIO(data), len(data), sha256_bytes(data), content_type, metadata)

    def _put(self, key: str, stream: BinaryIO, size: int, sha256: str, content_type: str,
             metadata: Mapping[str, str] | None) -> StoredObject:
        validate_key(key)
        meta = object_metadata(metadata, sha256)
        self.ensure_bucket()
        # same key, same bytes, same metadata: repeating a put (a retried upload) changes nothing
        self.client.put_object(self.bucket, key, stream, size, content_type=content_type, metadata=meta,
                               part_size=16 << 20)
        return StoredObject(key, sha256, size, content_type)

    def delete(self, key: str) -> None:
        """Remove ``key``; on a versioned bucket every version, so the space is really freed.
        A version under legal hold is refused by the server (S3Error AccessDenied)."""
        self.ensure_bucket()
        if not self.versioned:
            self.client.remove_object(self.bucket, validate_key(key))
            return
        versions = [o for o in self.client.list_objects(self.bucket, prefix=key, include_version=True)
                    if o.object_name == key]
        for obj in versions:
            self.client.remove_object(self.bucket, key, version_id=obj.version_id)

    # -- reads -----------------------------------------------------------------------------------

    def path_for(self, key: str) -> Path | None:
        return None  # remote: no local file

    def open(self, key: str) -> BinaryIO:
        """The object's bytes as a seekable file (small ones in memory, large ones in a temp file)."""
        self.ensure_bucket()
        try:
            response = self.client.get_object(self.bucket, validate_key(key))
        except S3Error as exc:
            if exc.code in MISSING_OBJECT:
                raise FileNotFoundError(f"no evidence object {key!r} in bucket {self.bucket}") from None
            raise
        out = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_MAX)
        try:
            for chunk in response.stream(CHUNK):
                out.write(chunk)
        except BaseException:
            out.close()
            raise
        finally:
            response.close()
            response.release_conn()
        out.seek(0)
        return out  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        try:
            self._stat(key)
            return True
        except FileNotFoundError:
            return False

    def stat(self, key: str) -> StoredObject:
        st = self._stat(key)
        meta = user_metadata(st.metadata)
        return StoredObject(key, meta.get(SHA256, ""), int(st.size or 0),
                            st.content_type or "application/octet-stream")

    def metadata(self, key: str) -> dict[str, str]:
        return user_metadata(self._stat(key).metadata)

    def _stat(self, key: str):
        self.ensure_bucket()
        try:
            return self.client.stat_object(self.bucket, validate_key(key))
        except S3Error as exc:
            if exc.code in MISSING_OBJECT:
                raise FileNotFoundError(f"no evidence object {key!r} in bucket {self.bucket}") from None
            raise

    def list_objects(self, prefix: str = "") -> Iterator[ObjectEntry]:
        self.ensure_bucket()
        for obj in self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
            if obj.is_dir:
                continue
            modified = obj.last_modified
            if modified is not None and modified.tzinfo is None:
                modified = modified.replace(tzinfo=timezone.utc)
            yield ObjectEntry(obj.object_name, int(obj.size or 0), modified)

    # -- protection and links --------------------------------------------------------------------

    def protect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        """Legal hold ON where the bucket has object lock (the server then refuses to delete the
        object), else the ``streetsight-protected`` tag, which the retention sweeper honours."""
        keys = resolve_targets(self, keys_or_prefix)
        for key in keys:
            if self.legal_hold:
                self.client.enable_object_legal_hold(self.bucket, key)
            else:
                tags = self._tags(key)
                tags[PROTECT_TAG] = "true"
                self.client.set_object_tags(self.bucket, key, tags)
        return keys

    def unprotect(self, keys_or_prefix: str | Iterable[str]) -> list[str]:
        keys = resolve_targets(self, keys_or_prefix)
        for key in keys:
            if self.legal_hold:
                self.client.disable_object_legal_hold(self.bucket, key)
            else:
                tags = self._tags(key)
                if tags.pop(PROTECT_TAG, None) is not None:
                    if tags:
                        self.client.set_object_tags(self.bucket, key, tags)
                    else:
                        self.client.delete_object_tags(self.bucket, key)
        return keys

    def is_protected(self, key: str) -> bool:
        self.ensure_bucket()
        if self.legal_hold:
            try:
                return bool(self.client.is_object_legal_hold_enabled(self.bucket, validate_key(key)))
            except S3Error as exc:
                if exc.code == "NoSuchObjectLegalHold":  # never had one
                    return False
                raise
        return self._tags(key).get(PROTECT_TAG) == "true"

    def _tags(self, key: str) -> Tags:
        self.ensure_bucket()
        found = self.client.get_object_tags(self.bucket, validate_key(key))
        tags = Tags.new_object_tags()
        for k, v in (found or {}).items():
            tags[k] = v
        return tags

    def presign(self, key: str, expires_s: float, *, signed_at: datetime | None = None) -> str:
        """A presigned GET URL (signed locally: no request to the server), valid for ``expires_s`` from
        ``signed_at`` (now by default; an earlier time lets a test see expiry without waiting)."""
        return self._presign_client.get_presigned_url(
            "GET", self.bucket, validate_key(key), expires=timedelta(seconds=check_expiry(expires_s)),
            request_date=signed_at)


def object_metadata(metadata: Mapping[str, str] | None, sha256: str) -> dict[str, str]:
    """User metadata for an upload: ``sha256`` and ``created_at`` added; S3 headers are ASCII only."""
    meta = {str(k).lower(): v for k, v in (metadata or {}).items()}
    for k, v in meta.items():
        if not isinstance(v, str):
            raise ValueError(f"metadata must map str to str, got {k!r}: {v!r}")
        if not (k.isascii() and v.isascii()):
            raise ValueError(f"S3 metadata must be ASCII (it travels in HTTP headers): {k!r}: {v!r}")
    meta[SHA256] = sha256
    meta.setdefault(CREATED_AT, utc_now_iso())
    return meta


def user_metadata(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``x-amz-meta-*`` headers as a plain dict with lower-case keys, prefix removed."""
    out = {}
    for k, v in (headers or {}).items():
        lk = k.lower()
        if lk.startswith(META_PREFIX):
            out[lk[len(META_PREFIX):]] = v
    return out
