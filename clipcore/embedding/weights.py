"""Resumable download of open_clip weights from the Hugging Face hub, with byte progress.

open_clip fetches a pretrained tag's weights with ``hf_hub_download``, which shows a
console bar only and, in the installed huggingface_hub (2.x), deletes its partial file
when a download fails, so an interrupted 600 MB download starts again from zero. Here:

1. the hub's metadata (``get_hf_file_metadata``: etag, size, commit, file location) is
   read for the file open_clip would load (``hf_candidates``: the ``.safetensors``
   alternative first, as open_clip's ``download_pretrained_from_hf`` does);
2. the bytes go to ``blobs/<etag>.clipcore-partial`` in the hub cache, which is kept when
   the connection drops; a rerun asks for the rest with an HTTP ``Range`` request;
3. the finished file is checked (size; sha256 when the etag is one, as for LFS files)
   and renamed to ``blobs/<etag>``; ``hf_hub_download`` then finds the blob and writes
   the cache's ``refs``/``snapshots`` entries itself, so open_clip's normal loading
   (also with ``HF_HUB_OFFLINE=1``) resolves the file.

``HF_ENDPOINT`` is read at call time (huggingface_hub reads it once, at import).
Progress is a callback ``(done_bytes, total_bytes)``; ``Throughput`` and ``describe``
turn it into "x MB of y MB, z MB/s".
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import re
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import Callable

Progress = Callable[[int, "int | None"], None]

PARTIAL_SUFFIX = ".clipcore-partial"
CHUNK_BYTES = 1 << 18
READ_TIMEOUT_S = 60.0
ATTEMPTS = 3  # per run, while each attempt brings new bytes; a rerun resumes after that
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def hub_endpoint() -> str:
    """The hub to download from: ``HF_ENDPOINT`` (read now), else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hf_candidates(hf_hub: str) -> tuple[str, list[str]]:
    """(repo_id, file names in the order open_clip tries them) of a pretrained cfg's
    ``hf_hub`` entry, e.g. ``"laion/CLIP-ViT-B-32-laion2B-s34B-b79K/"``."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    repo_id, filename = os.path.split(hf_hub)
    filename = filename or HF_WEIGHTS_NAME
    names: list[str] = []
    try:
        import safetensors  # noqa: F401  (open_clip looks for .safetensors only when it can read them)

        if filename == HF_WEIGHTS_NAME:
            names.append(HF_SAFE_WEIGHTS_NAME)
        elif filename.endswith((".bin", ".pth")):
            names.append(filename[:-4] + ".safetensors")
    except ImportError:
        pass
    names.append(filename)
    return repo_id, names


def _hub_cache(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def download_hf_weights(
    repo_id: str,
    names: list[str],
    *,
    progress: Progress | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    revision: str = "main",
) -> Path:
    """Download the first of ``names`` that the hub holds into its cache; return its path.

    Resumes a partial file left by an earlier run. Raises ``FileNotFoundError`` when the
    hub holds none of ``names``, ``OSError`` (``urllib.error.URLError`` included) when the
    transfer fails (the partial file is kept for the next run), ``ValueError`` when the
    finished file does not match the hub's size or sha256.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import repo_folder_name

    endpoint = endpoint or hub_endpoint()
    cache = _hub_cache(cache_dir)
    meta = name = None
    for candidate in names:
        try:
            meta = get_hf_file_metadata(hf_hub_url(repo_id, candidate, revision=revision, endpoint=endpoint))
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                continue
            raise
        name = candidate
        break
    if meta is None or name is None:
        raise FileNotFoundError(f"{endpoint} holds none of {names} in {repo_id}")
    if not meta.etag or not meta.commit_hash:
        raise OSError(f"{endpoint} gave no etag or commit for {repo_id}/{name}; cannot cache it")
    blob = cache / repo_folder_name(repo_id=repo_id, repo_type="model") / "blobs" / meta.etag
    if not blob.exists():
        partial = blob.with_name(blob.name + PARTIAL_SUFFIX)
        blob.parent.mkdir(parents=True, exist_ok=True)
        with open(blob.with_name(blob.name + PARTIAL_SUFFIX + ".lock"), "w") as lock:
            try:  # one writer per partial file: the CLI and an app job must not append to it at once
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OSError(f"another download of {repo_id}/{name} is running; wait for it to finish") from None
            if not blob.exists():  # the other one may have finished meanwhile
                _fetch_resumable(meta.location, partial, meta.size, progress)
                _verify(partial, meta.size, meta.etag)
                os.replace(partial, blob)
    if progress is not None:  # also when it was already here: the bar ends full
        size = blob.stat().st_size
        progress(size, size)
    # The blob is in place: hf_hub_download writes refs/ and snapshots/ and returns the pointer.
    return Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=str(cache), endpoint=endpoint))


def _fetch_resumable(url: str, partial: Path, size: int | None, progress: Progress | None) -> None:
    """Append the missing bytes of ``url`` to ``partial`` (HTTP Range when it has some)."""
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers()
    headers["Accept-Encoding"] = "identity"
    for attempt in range(1, ATTEMPTS + 1):
        done = partial.stat().st_size if partial.exists() else 0
        if size is not None and done > size:
            partial.unlink()  # not this file: start again
            done = 0
        if size is not None and done == size:
            if progress is not None:
                progress(done, size)
            return
        request = urllib.request.Request(url, headers={**headers, **({"Range": f"bytes={done}-"} if done else {})})
        before = done
        try:
            with urllib.request.urlopen(request, timeout=READ_TIMEOUT_S) as response:
                mode = "ab"
                if done and response.status != 206:  # the server ignored the Range: start over
                    mode, done = "wb", 0
                total = size if size is not None else _length(response, done)
                with open(partial, mode) as out:
                    if progress is not None:
                        progress(done, total)
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            if size is None or done >= size:
                return
            raise OSError(f"the connection closed after {done:,} of {size:,} bytes")
        except (OSError, http.client.HTTPException) as exc:  # URLError, a dropped connection, IncompleteRead
            if attempt == ATTEMPTS or not _grew(partial, before):
                if isinstance(exc, OSError):
                    raise
                raise OSError(f"download interrupted: {exc!r}") from exc
            time.sleep(1.0)


def _grew(partial: Path, before: int) -> bool:
    return partial.exists() and partial.stat().st_size > before


def _length(response, done: int) -> int | None:
    length = response.headers.get("Content-Length")
    return done + int(length) if length and length.isdigit() else None


def _verify(path: Path, size: int | None, etag: str) -> None:
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ValueError(f"downloaded {actual:,} bytes, the hub says {size:,}; rerun to resume")
    if _SHA256.match(etag):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
        if digest.hexdigest() != etag:
            path.unlink()
            raise ValueError("the downloaded file's sha256 does not match the hub's; it was removed, rerun to fetch it again")


class Throughput:
    """Bytes per second over the last ``window_s`` seconds of progress calls."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._points: deque[tuple[float, int]] = deque()

    def __call__(self, done: int) -> float:
        now = time.monotonic()
        self._points.append((now, done))
        while len(self._points) > 2 and now - self._points[0][0] > self._window:
            self._points.popleft()
        t0, d0 = self._points[0]
        return (done - d0) / (now - t0) if now > t0 and done >= d0 else 0.0


def describe(done: int, total: int | None, rate: float | None = None) -> str:
    """``"12.0 MB of 605.2 MB, 3.1 MB/s"`` (MB = 10^6 bytes, as tqdm and the hub count)."""
    text = f"{done / 1e6:,.1f} MB" + (f" of {total / 1e6:,.1f} MB" if total else "")
    return text + (f", {rate / 1e6:,.1f} MB/s" if rate is not None else "")
