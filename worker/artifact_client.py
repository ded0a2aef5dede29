"""The worker's side of the /v1/worker routes: uploads in verified chunks that resume where
the server stands, checkpoint downloads checked against their SHA-256, dataset files.

Requests are retried while the API is away (restarting, a network blip) for up to
`retry_for_s`; what the API refuses (4xx) is raised at once with its message."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx

from cortexrnn.shared.artifacts import sha256_of
from cortexrnn.wire.artifacts import ArtifactKind, CheckpointInfo, UploadCreate, UploadState

log = logging.getLogger("cortexrnn.worker")

RETRYABLE = {502, 503, 504}
DAMAGED_CHUNK_TRIES = 5


class TransportError(RuntimeError):
    """The API refused a request (its message says why) or stayed away too long."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiTransport:
    def __init__(
        self,
        api_url: str,
        token: str,
        worker: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 120.0,
        retry_for_s: float = 600.0,
    ) -> None:
        self.worker = worker
        self.retry_for_s = retry_for_s
        self.client = client or httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.chunks_sent = 0  # what tests and logs read: how much an upload had to send

    def close(self) -> None:
        self.client.close()

    # -- requests ---------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request, retried while the API is unreachable or unavailable."""
        deadline = time.monotonic() + self.retry_for_s
        wait = 0.5
        headers = {**self.headers, **kw.pop("headers", {})}
        while True:
            try:
                r = self.client.request(method, url, headers=headers, **kw)
                if r.status_code not in RETRYABLE:
                    return r
                problem = f"{r.status_code}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + wait > deadline:
                raise TransportError(
                    f"the API at {self.client.base_url} is unreachable ({problem}) after "
                    f"{self.retry_for_s:.0f} s"
                )
            log.warning("%s %s: %s; retrying in %.1f s", method, url, problem, wait)
            time.sleep(wait)
            wait = min(wait * 2, 15.0)

    @staticmethod
    def _ok(r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:300]
            raise TransportError(
                f"{r.request.method} {r.request.url.path}: {message}", r.status_code
            )
        return r.json()

    # -- uploads ----------------------------------------------------------------------------

    def upload(
        self,
        path: Path,
        *,
        kind: ArtifactKind,
        pack_id: int,
        run_id: int | None = None,
        name: str | None = None,
        step: int | None = None,
    ) -> UploadState:
        """Send `path` to the API's artifact store; resumes an earlier, interrupted upload of
        the same file. Returns the complete upload (its `path` is where the API keeps it)."""
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            sha = sha256_of(fh)
            body = UploadCreate(
                kind=kind,
                pack_id=pack_id,
                run_id=run_id,
                worker=self.worker,
                name=name or path.name,
                size_bytes=size,
                sha256=sha,
                step=step,
            )
            state = UploadState.model_validate(
                self._ok(self._request("POST", "/v1/worker/uploads", json=body.model_dump()))
            )
            if state.received_bytes and state.state == "open":
                log.info(
                    "upload %d (%s): resuming at byte %d of %d",
                    state.id,
                    body.name,
                    state.received_bytes,
                    size,
                )
            damaged = 0
            while state.state != "complete":
                offset = state.received_bytes
                chunk = os.pread(fh.fileno(), state.chunk_bytes, offset)
                if not chunk:
                    raise TransportError(f"{path} shrank while it was uploaded")
                digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                r = self._request(
                    "PATCH",
                    f"/v1/worker/uploads/{state.id}",
                    content=chunk,
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Digest": f"sha-256=:{digest}:",
                        "Content-Type": "application/octet-stream",
                    },
                )
                self.chunks_sent += 1
                out_of_step = r.status_code == 409 and "Upload-Offset" in r.text
                if out_of_step or (r.status_code == 422 and "damaged" in r.text):
                    # Out of step (a retried chunk had landed) or damaged on the way: ask the
                    # server where it stands and go on from there.
                    damaged += r.status_code == 422
                    if damaged > DAMAGED_CHUNK_TRIES:
                        self._ok(r)
                    state = self.upload_state(state.id)
                    continue
                state = UploadState.model_validate(self._ok(r))
        return state

    def upload_state(self, upload_id: int) -> UploadState:
        return UploadState.model_validate(
            self._ok(self._request("GET", f"/v1/worker/uploads/{upload_id}"))
        )

    # -- downloads --------------------------------------------------------------------------

    def checkpoint_info(self, pack_id: int, runs_key: str) -> CheckpointInfo | None:
        r = self._request("GET", f"/v1/worker/packs/{pack_id}/checkpoints/{runs_key}")
        if r.status_code == 404:
            return None
        return CheckpointInfo.model_validate(self._ok(r))

    def download_checkpoint(self, info: CheckpointInfo, dest: Path) -> CheckpointInfo:
        """Write the checkpoint to `dest` (atomically), verified against its SHA-256; returns
        what was written (a newer upload may have replaced `info` meanwhile)."""
        tmp = dest.with_name(f".{dest.name}.download")
        dest.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            url = f"/v1/worker/packs/{info.pack_id}/checkpoints/{info.runs_key}/file"
            try:
                if self._stream_to(url, tmp) == info.sha256:
                    os.replace(tmp, dest)
                    return info
            except httpx.TransportError as exc:
                log.warning("checkpoint download interrupted (%s); trying again", exc)
            # Replaced by a newer upload meanwhile, or damaged: take the latest again.
            info = self.checkpoint_info(info.pack_id, info.runs_key) or info
        tmp.unlink(missing_ok=True)
        raise TransportError(f"the checkpoint of pack {info.pack_id} kept failing its SHA-256")

    def _stream_to(self, url: str, dest: Path) -> str:
        """Stream a file to `dest`; returns its SHA-256."""
        h = hashlib.sha256()
        with self.client.stream("GET", url, headers=self.headers) as r:
            if r.status_code >= 400:
                r.read()
                self._ok(r)
            with open(dest, "wb") as out:
                for block in r.iter_bytes(1 << 20):
                    h.update(block)
                    out.write(block)
        return h.hexdigest()

    def dataset_file(self, sha: str, name: str) -> bytes:
        return self._ok_bytes(self._request("GET", f"/v1/worker/datasets/{sha}/{name}"))

    def _ok_bytes(self, r: httpx.Response) -> bytes:
        if r.status_code >= 400:
            self._ok(r)
        return r.content
