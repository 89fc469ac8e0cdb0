"""A small fake Hugging Face hub on loopback: the ``/{repo}/resolve/{revision}/{filename}``
endpoint with HEAD and (Range) GET, as huggingface_hub's file_download.py reads it.

HEAD answers ``X-Repo-Commit``, ``ETag`` (and ``X-Linked-Etag``/``X-Linked-Size``, as the
hub does for LFS files: the sha256 and size of the content) and ``Content-Length``.
``drop_after`` makes the next GET send that many bytes and then cut the connection;
``refuse_after_drop`` then answers 503 to every later GET until it is cleared, so the
client's run ends with a partial file. Every request is recorded (method, path, Range).
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    def __init__(self, files: dict[str, bytes]) -> None:
        """``files``: ``"org/repo/filename"`` -> content."""
        self.files = files
        self.log: list[tuple[str, str, str | None]] = []
        self.drop_after: int | None = None
        self.refuse_after_drop = False
        self._refusing = False
        self.delay_per_chunk_s = 0.0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _find(self) -> tuple[str, bytes] | None:
                parts = self.path.split("?")[0].strip("/").split("/")
                # org / repo / resolve / revision / filename
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                key = "/".join(parts[:2] + parts[4:])
                return (key, hub.files[key]) if key in hub.files else None

            def _headers(self, body: bytes) -> None:
                sha = hashlib.sha256(body).hexdigest()
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")

            def do_HEAD(self) -> None:
                hub.log.append(("HEAD", self.path, self.headers.get("Range")))
                found = self._find()
                if found is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self._headers(found[1])
                self.send_header("Content-Length", str(len(found[1])))
                self.end_headers()

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                hub.log.append(("GET", self.path, rng))
                found = self._find()
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if hub._refusing:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = found[1]
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                self._headers(body)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                part = body[start:]
                if hub.drop_after is not None:
                    cut, hub.drop_after = hub.drop_after, None
                    hub._refusing = hub.refuse_after_drop
                    self.wfile.write(part[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                import time

                for i in range(0, len(part), 256 * 1024):
                    self.wfile.write(part[i : i + 256 * 1024])
                    if hub.delay_per_chunk_s:
                        time.sleep(hub.delay_per_chunk_s)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def allow(self) -> None:
        """Serve normally again after a drop."""
        self._refusing = False
        self.refuse_after_drop = False

    def gets(self) -> list[tuple[str, str, str | None]]:
        """The file downloads (GETs of the resolve endpoint; the client also GETs other API paths)."""
        return [entry for entry in self.log if entry[0] == "GET" and "/resolve/" in entry[1]]

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
