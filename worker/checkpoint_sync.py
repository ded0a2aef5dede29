"""Uploading a training pack's checkpoint to the API, so that the pack survives its host.

The trainer writes its checkpoint file atomically every `checkpoint_every_steps`; a daemon
thread here sends the newest one at most every CORTEXRNN_CHECKPOINT_UPLOAD_EVERY_S seconds,
and `flush()` sends it at once (the pack drains on SIGTERM, or is cancelled). What is sent is
a hard link taken first: the trainer's next write replaces the file, never the linked copy."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from pathlib import Path

import torch

from cortexrnn.worker.artifact_client import ApiTransport

log = logging.getLogger("cortexrnn.worker")


def runs_key_of(checkpoint: Path) -> str:
    """The runs' key in a checkpoint file name (worker/train.py: checkpoint-<key>.pt)."""
    return checkpoint.stem.removeprefix("checkpoint-")


def checkpoint_step(path: Path) -> int:
    """The training step a checkpoint holds (memory-mapped: nothing else is read)."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(state["step"])


class CheckpointSync:
    def __init__(
        self, transport: ApiTransport, pack_id: int, checkpoint: Path, every_s: float
    ) -> None:
        self.transport = transport
        self.pack_id = pack_id
        self.checkpoint = checkpoint
        self.every_s = every_s
        self.uploaded_steps: list[int] = []
        self._sent: tuple[int, int, int] | None = None  # inode, mtime, size of the last sent
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="checkpoint-sync")

    def __enter__(self) -> CheckpointSync:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.upload_if_changed()
            except Exception:  # the next period tries again; training goes on meanwhile
                log.warning("pack %s: checkpoint upload failed", self.pack_id, exc_info=True)

    def mark_current(self) -> None:
        """The checkpoint file now is what the API has (it was just downloaded from it)."""
        with contextlib.suppress(FileNotFoundError):
            self._sent = _signature(self.checkpoint)

    def flush(self) -> int | None:
        """Stop the periodic uploads and send the newest checkpoint now (if not sent yet)."""
        self.stop()
        return self.upload_if_changed()

    def upload_if_changed(self) -> int | None:
        """Upload the checkpoint if it changed since the last upload; returns its step."""
        with self._lock:
            snapshot = self.checkpoint.with_name(f".{self.checkpoint.name}.upload")
            snapshot.unlink(missing_ok=True)
            try:
                try:
                    os.link(self.checkpoint, snapshot)
                except FileNotFoundError:
                    return None  # no checkpoint written yet
                except OSError:  # a file system without hard links
                    shutil.copy2(self.checkpoint, snapshot)
                signature = _signature(snapshot)
                if signature == self._sent:
                    return None
                step = checkpoint_step(snapshot)
                self.transport.upload(
                    snapshot,
                    kind="checkpoint",
                    pack_id=self.pack_id,
                    name=self.checkpoint.name,
                    step=step,
                )
                self._sent = signature
                self.uploaded_steps.append(step)
                log.info("pack %s: uploaded its checkpoint at step %d", self.pack_id, step)
                return step
            finally:
                snapshot.unlink(missing_ok=True)


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def fetch_checkpoint(transport: ApiTransport, pack_id: int, checkpoint: Path) -> int | None:
    """Put the pack's latest uploaded checkpoint at `checkpoint` unless the one already there
    (an earlier attempt on this host) is as recent; returns the step fetched, if any."""
    info = transport.checkpoint_info(pack_id, runs_key_of(checkpoint))
    if info is None:
        return None
    local = -1
    if checkpoint.exists():
        try:
            local = checkpoint_step(checkpoint)
        except Exception:  # noqa: BLE001 - any unreadable file: the uploaded one replaces it
            log.warning("pack %s: local checkpoint unreadable; fetching the uploaded one", pack_id)
    if info.step <= local:
        return None
    got = transport.download_checkpoint(info, checkpoint)
    log.info(
        "pack %s: fetched its checkpoint at step %d (uploaded by %s)", pack_id, got.step, got.worker
    )
    return got.step
