"""Small upload archives built by hand: one valid field bundle (the positive control) and the
malformed variants the corpus sends. Kept apart from the tests so that each variant differs
from the valid bundle by exactly one defect."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

FIELD = "1_2_3"
N = 12


def _npy(arr: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def field_files(n: int = N, seed: int = 0) -> dict[str, bytes]:
    """The safe numeric layout `cortexrnn datasets convert` writes for one field."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, size=(n, n))
    np.fill_diagonal(counts, 0)
    header = ",".join(["", *map(str, range(n))])
    rows = [",".join([str(i), *map(str, counts[i])]) for i in range(n)]
    x = rng.normal(size=(n, 40))
    corr = np.corrcoef(x)
    prec = np.linalg.inv(corr + np.eye(n))
    prec = (prec + prec.T) / 2
    sttc = np.tril(rng.uniform(-0.2, 0.5, size=(n, n)), -1) + np.eye(n)
    return {
        f"connectome_{FIELD}.csv": ("\n".join([header, *rows]) + "\n").encode(),
        f"positions_{FIELD}.npy": _npy(rng.integers(1000, 50000, size=(n, 3)).astype(np.int64)),
        "corr_matrix.npy": _npy(corr),
        "precision_matrix.npy": _npy(prec),
        "sttc_matrix.npy": _npy(sttc),
        f"root_ids_{FIELD}.npy": _npy(np.arange(n, dtype=np.int64) + 864691135000000000),
        f"unit_ids_{FIELD}.npy": _npy(np.arange(n, dtype=np.int64) + 1),
        f"target_ids_{FIELD}.npy": _npy(np.arange(n, dtype=np.int64) + 500000),
    }


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


def valid_bundle() -> bytes:
    return make_zip({f"{FIELD}/{k}": v for k, v in field_files().items()})


def bundle_with(
    replace: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """The valid bundle with some files replaced, dropped or added (names inside the field folder,
    except `extra` names, which are archive paths as given)."""
    files = field_files()
    files.update(replace or {})
    members = {f"{FIELD}/{k}": v for k, v in files.items() if k not in drop}
    members.update(extra or {})
    return make_zip(members)


def object_array_npy() -> bytes:
    """A .npy holding a pickled object array (what the paper's positions files are)."""
    arr = np.empty(N, dtype=object)
    for i in range(N):
        arr[i] = [i, i, i]
    return _npy(arr, allow_pickle=True)


class _Boom:
    """Unpickling this would run os.system; the server must never get that far."""

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, ("touch /tmp/cortexrnn-pwned",))


def pickle_renamed_npy() -> bytes:
    return pickle.dumps(_Boom())


def zip_bomb(size: int = 32 * 1024 * 1024) -> bytes:
    """One member that inflates to `size` bytes of zeros (a ~1000x ratio) inside a tiny zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(f"{FIELD}/corr_matrix.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            chunk = b"\0" * (1 << 20)
            for _ in range(size // len(chunk)):
                out.write(chunk)
    return buf.getvalue()


def small_members_bomb(n: int = 64, size: int = 1 << 20) -> bytes:
    """Many members of exactly 1 MiB of zeros: each is under a per-member ratio check."""
    return make_zip({f"{FIELD}/part{i}.npy": b"\0" * size for i in range(n)})
