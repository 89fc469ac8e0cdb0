"""A small reverse proxy for browser tests: what nginx or oauth2-proxy do in front of
the app in ``[auth] mode = "proxy"``, on loopback.

It forwards every HTTP request and WebSocket upgrade from ``--listen`` to ``--upstream``
and edits the request head on the way: ``--set NAME=VALUE`` replaces whatever the
client sent under NAME (nginx's ``proxy_set_header``), ``--add NAME=VALUE`` appends a
header and keeps the client's (a sloppy proxy), ``--forwarded-for`` appends
``X-Forwarded-For: <client address>``. ``--source ADDR`` connects upstream from another
loopback address (127.0.0.2), so the app sees a peer it does not trust.

A browser test needs this because Playwright's extra HTTP headers reach the page
request but not the WebSocket that Streamlit reads ``st.context.headers`` from.

Run: ``python tests/e2e/header_proxy.py --listen 8601 --upstream 127.0.0.1:8501
--set X-Forwarded-User=carol@lab.org``; it prints ``listening on PORT`` once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

HEAD_LIMIT = 64 * 1024
CHUNK = 64 * 1024


def _header_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE; got {text!r}")
    return name.strip(), value


def edit_head(head: bytes, *, set_headers: list[tuple[str, str]], add_headers: list[tuple[str, str]],
              client: str | None) -> tuple[bytes, bool]:
    """The request head as the proxy sends it upstream, and whether it asks for an upgrade.

    A plain request gets ``Connection: close``, so every request of a keep-alive
    connection passes through this function rather than through the byte pipe.
    """
    lines = head.decode("latin-1").split("\r\n")
    request_line, fields = lines[0], [line for line in lines[1:] if line]
    replaced = {name.lower() for name, _ in set_headers}
    upgrade = any(f.partition(":")[0].strip().lower() == "upgrade" for f in fields)
    kept = [f for f in fields if f.partition(":")[0].strip().lower() not in replaced]
    if not upgrade:
        kept = [f for f in kept if f.partition(":")[0].strip().lower() not in {"connection", "keep-alive"}]
        kept.append("Connection: close")
    kept += [f"{name}: {value}" for name, value in (*set_headers, *add_headers)]
    if client is not None:
        kept.append(f"X-Forwarded-For: {client}")
    return ("\r\n".join([request_line, *kept]) + "\r\n\r\n").encode("latin-1"), upgrade


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except RuntimeError:
            pass


async def _serve_one(args: argparse.Namespace, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
    try:
        head = await c_reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        c_writer.close()
        return
    peer = c_writer.get_extra_info("peername")
    new_head, _ = edit_head(
        head[:-4], set_headers=args.set, add_headers=args.add,
        client=peer[0] if args.forwarded_for and peer else None,
    )
    host, _, port = args.upstream.rpartition(":")
    try:
        u_reader, u_writer = await asyncio.open_connection(
            host, int(port), local_addr=(args.source, 0) if args.source else None, limit=HEAD_LIMIT,
        )
    except OSError:
        c_writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        c_writer.close()
        return
    u_writer.write(new_head)
    await u_writer.drain()
    await asyncio.gather(_pipe(c_reader, u_writer), _pipe(u_reader, c_writer))


async def _main(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_one(args, r, w), "127.0.0.1", args.listen, limit=HEAD_LIMIT,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the app")
    parser.add_argument("--set", type=_header_pair, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--add", type=_header_pair, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--forwarded-for", action="store_true", help="append X-Forwarded-For: <client>")
    parser.add_argument("--source", default=None, help="local address to connect upstream from")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
