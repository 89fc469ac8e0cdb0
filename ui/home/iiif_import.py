"""IIIF sources typed into Home's New collection form, checked before a job is started.

The job is ``import-iiif URL... --out FOLDER --ingest``: the pages are downloaded into the
collection's folder (under ``[app] allowed_roots``, like any other collection) and ingested
with each book as its group. Started from the app, the import refuses local files and
private or loopback addresses unless ``[iiif]`` in clipcore.toml allows them, and runs
under ``[iiif] max_images`` / ``max_manifests`` (else ``cli.APP_MAX_IMAGES`` /
``APP_MAX_MANIFESTS``): the job's process applies them, since it knows it was started as a job.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from clipcore.errors import InputError

MAX_SOURCES = 200


def parse_sources(text: str) -> list[str]:
    """The URLs in ``text``, one a line (blank lines and ``#`` comments ignored).

    Raises:
        InputError: too many lines, or a line that is not an http(s) URL.
    """
    urls = [line.strip() for line in (text or "").splitlines() if line.strip() and not line.strip().startswith("#")]
    if len(urls) > MAX_SOURCES:
        raise InputError(f"at most {MAX_SOURCES} URLs per import; got {len(urls)}. Give a collection URL instead.")
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"not an http(s) URL: {url[:200]!r}; give IIIF manifest or collection URLs.")
    return urls


def import_job_arguments(urls: list[str], folder: str | Path) -> list[str]:
    """Arguments of the background ``import-iiif`` job that fills and ingests ``folder``."""
    return [*urls, "--out", str(folder), "--ingest", "--quiet"]
