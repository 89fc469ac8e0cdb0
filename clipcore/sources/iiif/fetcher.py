"""The network side of an IIIF import: one polite, bounded HTTP GET that a server cannot hold.

Politeness: at most ``per_host`` connections to one host (manifests and images alike),
retries with exponential backoff on 429 and 5xx (a ``Retry-After`` is honoured, up to a
cap), a User-Agent naming the project.

Time: ``timeout_s`` bounds each wait for data; ``max_request_s`` is a wall-clock deadline
for one try of one request, DNS, connect, TLS, redirects and body included. It is enforced
at the socket level: the name is resolved in a helper thread that is abandoned at the
deadline, and a watchdog shuts the request's sockets down when it passes, so a server that
drips one byte at a time cannot hold a job.

Safety: only http(s) is fetched. Unless ``allow_private`` is set, a private, loopback,
link-local or otherwise non-public address is refused after DNS and before connecting (a
redirect or a name that resolves inward is caught too).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable

from clipcore import __version__
from clipcore.errors import ClipcoreError

logger = logging.getLogger(__name__)

USER_AGENT = f"clipcore-iiif/{__version__} (image collection tool; python urllib)"


class FetchError(ClipcoreError):
    """A URL could not be fetched; ``str(exc)`` is the one-line reason, ``status`` the HTTP status if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    """How an import behaves on the network, and its limits.

    ``timeout_s``: seconds without data before a try fails. ``max_request_s``: wall-clock
    seconds for one try of one request, DNS to last byte. ``max_images`` caps the pages
    downloaded by one import and ``max_manifests`` the manifests read (None: no cap).
    """

    user_agent: str = USER_AGENT
    timeout_s: float = 30.0
    max_request_s: float = 300.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0
    per_host: int = 2
    workers: int = 4
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 80_000_000
    max_images: int | None = None
    max_manifests: int | None = 1000
    max_manifest_bytes: int = 20 * 1024 * 1024
    allow_private: bool = False
    allow_local_files: bool = True
    # How the refusal of a private address says to allow it: its reader decides (the CLI's
    # flag for a person at a terminal; the config line for a job started from the app).
    private_hint: str = "an admin can allow them with the allow_private line of the [iiif] section in clipcore.toml"


# -- one request's deadline ------------------------------------------------------------------


class _Deadline:
    """A wall-clock limit for one try: a watchdog shuts down every socket of the try when it passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def error(self) -> TimeoutError:
        return TimeoutError(f"slower than {self.seconds:g}s in all")

    def check(self) -> None:
        if self.expired or self.remaining() <= 0:
            self.expired = True
            raise self.error()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)

    def close(self) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    try:  # wakes a blocked recv/connect in another thread; close() alone would not
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_local = threading.local()  # the deadline of the try running on this thread


def _resolve(host: str, port: int, deadline: _Deadline | None) -> list[tuple]:
    """getaddrinfo bounded by the deadline: it blocks in C, so it runs in a thread left behind at the deadline."""
    if deadline is None:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc
        done.set()

    threading.Thread(target=work, name="clipcore-iiif-dns", daemon=True).start()
    if not done.wait(max(0.0, deadline.remaining())):
        deadline.expired = True
        raise TimeoutError(f"no DNS answer for {host} within {deadline.seconds:g}s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["infos"]  # type: ignore[return-value]


def _blocked(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not addr.is_global or addr.is_multicast


def _guarded_connect(allow_private: bool, private_hint: str):
    def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kw):
        host, port = address[0], address[1]
        deadline: _Deadline | None = getattr(_local, "deadline", None)
        wait = timeout if isinstance(timeout, (int, float)) else None
        last: Exception | None = None
        for family, kind, proto, _, sockaddr in _resolve(host, port, deadline):
            peer = sockaddr[0]
            if not allow_private and _blocked(peer):
                last = FetchError(
                    f"refused: {host} is a private or local address ({peer}); {private_hint}"
                )
                continue
            sock = socket.socket(family, kind, proto)
            try:
                if deadline is not None:
                    deadline.watch(sock)
                    deadline.check()
                    wait_now = deadline.remaining() if wait is None else min(wait, deadline.remaining())
                else:
                    wait_now = wait
                sock.settimeout(wait_now)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                sock.settimeout(wait)
                return sock
            except OSError as exc:
                sock.close()
                if deadline is not None and deadline.expired:
                    raise deadline.error() from None
                last = exc
        if isinstance(last, FetchError):
            raise last
        raise last or OSError(f"no address for {host}")

    return create_connection


def _opener(allow_private: bool, private_hint: str = FetchPolicy.private_hint) -> urllib.request.OpenerDirector:
    connect = _guarded_connect(allow_private, private_hint)

    class _HTTP(http.client.HTTPConnection):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._create_connection = connect

    class _HTTPS(http.client.HTTPSConnection):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._create_connection = connect

    class _HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(_HTTP, req)

    class _HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(_HTTPS, req)

    class _Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
                raise FetchError(f"refused: redirect to a non-http(s) URL {newurl[:200]!r}")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    # No ProxyHandler from the environment: the address check must see the real peer.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _HTTPHandler, _HTTPSHandler, _Redirects)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Fetcher:
    """GET with retries, a connection bound per host and a deadline per try; safe to share between threads."""

    def __init__(self, policy: FetchPolicy, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self._opener = _opener(policy.allow_private, policy.private_hint)
        self._sleep = sleep
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        host = (urllib.parse.urlsplit(url).netloc or "").lower()
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(max(1, self.policy.per_host))
            return self._hosts[host]

    def _once(self, url: str, max_bytes: int, accept: str) -> bytes:
        req = urllib.request.Request(url, headers={"User-Agent": self.policy.user_agent, "Accept": accept})
        with self._host_slot(url):
            deadline = _Deadline(self.policy.max_request_s)  # waiting for a slot is not the server's time
            _local.deadline = deadline
            try:
                return self._read(req, max_bytes, deadline)
            except (OSError, http.client.HTTPException) as exc:
                timeout = isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)
                if deadline.expired and not timeout and not isinstance(exc, urllib.error.HTTPError):
                    raise deadline.error() from None  # a socket shut by the watchdog: say why
                raise
            finally:
                _local.deadline = None
                deadline.close()

    def _read(self, req: urllib.request.Request, max_bytes: int, deadline: _Deadline) -> bytes:
        with self._opener.open(req, timeout=self.policy.timeout_s) as resp:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"too large: {int(declared)} bytes (limit {max_bytes})")
            chunks, total = [], 0
            while True:
                chunk = resp.read1(64 * 1024) if hasattr(resp, "read1") else resp.read(64 * 1024)
                deadline.check()
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise FetchError(f"too large: more than {max_bytes} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
            if declared and declared.isdigit() and len(body) < int(declared):
                raise http.client.IncompleteRead(body, int(declared) - len(body))
            return body

    def get(self, url: str, *, max_bytes: int, accept: str = "*/*") -> bytes:
        """The body of ``url``.

        Retries 429, 5xx, timeouts, resets and truncated bodies up to ``max_retries`` times,
        waiting ``Retry-After`` when the server gives one (refusing waits above
        ``max_retry_after_s``), else exponential backoff with jitter.
        Raises:
            FetchError: with a one-line reason (and ``status`` for an HTTP answer), once
            retries are spent or at once for other errors.
        """
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise FetchError(f"refused: only http(s) URLs are fetched; got {url[:200]!r}")
        p = self.policy
        for attempt in range(p.max_retries + 1):
            wait: float | None = None
            status: int | None = None
            try:
                return self._once(url, max_bytes, accept)
            except FetchError:
                raise
            except urllib.error.HTTPError as exc:
                status = exc.code
                if exc.code != 429 and not 500 <= exc.code < 600:
                    raise FetchError(f"HTTP {exc.code} {exc.reason}", status=exc.code) from None
                reason = f"HTTP {exc.code} {exc.reason}"
                wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                if wait is not None and wait > p.max_retry_after_s:
                    raise FetchError(
                        f"{reason}; server asked to wait {wait:.0f}s (limit {p.max_retry_after_s:.0f}s)", status=exc.code
                    ) from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, FetchError):
                    raise exc.reason from None
                if isinstance(exc.reason, socket.gaierror):  # an unknown host name does not come back
                    raise FetchError(f"cannot resolve host: {exc.reason}") from None
                if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                    reason = f"timed out: {_timeout_detail(exc.reason, p)}"
                else:
                    reason = f"cannot connect: {exc.reason}"
            except (TimeoutError, socket.timeout) as exc:
                reason = f"timed out: {_timeout_detail(exc, p)}"
            except http.client.IncompleteRead as exc:
                reason = f"truncated body ({len(exc.partial)} bytes, {exc.expected} missing)"
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                reason = f"connection failed: {exc}"
            if attempt == p.max_retries:
                raise FetchError(f"{reason} (after {p.max_retries + 1} tries)", status=status)
            if wait is None:
                wait = min(p.max_backoff_s, p.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
            logger.info("retrying %s in %.1fs: %s", url, wait, reason)
            self._sleep(wait)
        raise FetchError("unreachable")  # the loop returns or raises


def _timeout_detail(exc: BaseException, policy: FetchPolicy) -> str:
    text = str(exc)
    return text if text not in ("", "timed out") else f"no data for {policy.timeout_s:g}s"
