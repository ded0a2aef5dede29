"""Finished artifacts in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), through
boto3: CORTEXRNN_ARTIFACT_STORE=s3://bucket/prefix (shared/artifacts.py has the interface).

A file's location is its URI, s3://bucket/prefix/<key>. Plain paths stay readable from
local disk: weights that workers on the API's own host wrote to its artifacts folder.
Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, an instance or pod role), never from CortexRNN's own settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cortexrnn.shared.artifacts import (
    CHUNK_READ,
    S3_SCHEME,
    ArtifactStoreError,
    LocalFiles,
)
from cortexrnn.shared.remote_settings import RemoteSettings

log = logging.getLogger("cortexrnn.artifacts")

MISSING = {"404", "NoSuchKey", "NotFound"}
# Fail in seconds when the endpoint is away (the worker retries a 503 for minutes itself).
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3})


def split_url(url: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URL; the key may be empty."""
    if not url.startswith(S3_SCHEME):
        raise ValueError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url.removeprefix(S3_SCHEME).partition("/")
    return bucket, key


class S3Files:
    """Finished files as objects under `prefix` in `bucket`; plain paths read from `local`."""

    def __init__(
        self, bucket: str, prefix: str, client: Any, local: LocalFiles, endpoint: str | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.local = local  # files recorded before the bucket, or by workers on this host
        self.where = f"{S3_SCHEME}{bucket}/{self.prefix}"
        self.endpoint = endpoint or "AWS"

    @classmethod
    def from_settings(cls, remote: RemoteSettings, local: LocalFiles) -> S3Files:
        bucket, prefix = split_url(remote.artifact_store)
        client = boto3.client(
            "s3",
            endpoint_url=remote.artifact_s3_endpoint_url or None,
            region_name=remote.artifact_s3_region or None,
            config=CLIENT_CONFIG,
        )
        return cls(bucket, prefix, client, local, remote.artifact_s3_endpoint_url)

    # -- FinishedFiles ----------------------------------------------------------------------

    def put(self, key: str, source: Path) -> str:
        # The same key as on disk, refused the same way if it would leave the store.
        object_key = self.prefix + self.local.path(key).relative_to(self.local.root).as_posix()
        with self._errors(f"storing {key}"):
            # One PUT (or a multipart upload completed at once): readers never see a part.
            self.client.upload_file(str(source), self.bucket, object_key)
        source.unlink(missing_ok=True)
        return f"{S3_SCHEME}{self.bucket}/{object_key}"

    def local_path(self, location: str) -> Path | None:
        return None if location.startswith(S3_SCHEME) else self.local.local_path(location)

    def exists(self, location: str) -> bool:
        if not location.startswith(S3_SCHEME):
            return self.local.exists(location)
        bucket, key = split_url(location)
        try:
            with self._errors(f"looking up {location}"):
                self.client.head_object(Bucket=bucket, Key=key)
        except FileNotFoundError:
            return False
        return True

    def stream(self, location: str) -> tuple[Iterator[bytes], int]:
        if not location.startswith(S3_SCHEME):
            return self.local.stream(location)
        bucket, key = split_url(location)
        with self._errors(f"reading {location}"):
            answer = self.client.get_object(Bucket=bucket, Key=key)
        body = answer["Body"]

        def blocks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_READ)
            finally:
                body.close()

        return blocks(), int(answer["ContentLength"])

    def remove(self, location: str) -> None:
        if not location.startswith(S3_SCHEME):
            self.local.remove(location)
            return
        bucket, key = split_url(location)
        if bucket != self.bucket or not key.startswith(self.prefix):
            return  # not ours (an older store's): left alone, as paths outside the folder are
        try:
            with self._errors(f"deleting {location}"):
                self.client.delete_object(Bucket=bucket, Key=key)
        except ArtifactStoreError as exc:
            # The replacement is recorded already; an old object left over only costs space.
            log.warning("%s", exc)

    def check(self) -> None:
        # The endpoint is named here, for the operator; answers to API clients leave it out.
        with self._errors(f"opening the bucket at {self.endpoint}", missing_object=False):
            self.client.head_bucket(Bucket=self.bucket)

    @contextlib.contextmanager
    def _errors(self, doing: str, *, missing_object: bool = True) -> Iterator[None]:
        """boto's errors as FileNotFoundError (an object that is not there) or as
        ArtifactStoreError naming the store and what went wrong (never the credentials)."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(exc, doing, missing_object) from None
        except S3UploadFailedError as exc:  # upload_file wraps the ClientError it met
            cause = exc.__context__
            if isinstance(cause, ClientError):
                raise self._client_error(cause, doing, missing_object) from None
            raise ArtifactStoreError(self._failed(doing, "the upload failed")) from None
        except BotoCoreError as exc:  # unreachable endpoint, no credentials, timeouts
            raise ArtifactStoreError(self._failed(doing, str(exc))) from None

    def _client_error(self, exc: ClientError, doing: str, missing_object: bool) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in MISSING and missing_object:
            return FileNotFoundError(doing)
        if code in MISSING or code == "NoSuchBucket":
            why = f"bucket {self.bucket!r} does not exist"
        elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            why = f"access denied ({code}); check the AWS credentials of the API host"
        else:
            why = f"{code} {error.get('Message', '')}".strip()
        return ArtifactStoreError(self._failed(doing, why))

    def _failed(self, doing: str, why: str) -> str:
        return (
            f"the artifact store {self.where} failed {doing}: {why} "
            "(CORTEXRNN_ARTIFACT_STORE, docs/operations.md)"
        )
