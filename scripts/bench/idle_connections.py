#!/usr/bin/env python3
"""Holds COUNT idle keep-alive connections to a server on 127.0.0.1:PORT.

Usage: idle_connections.py PORT [COUNT] [--path PATH] [--hold-for SECONDS]

Each connection first completes one `GET PATH` (default /v3/services) answered 200, so it is a
real keep-alive connection, then stays open and idle. Then, by mode:

- default (scripts/bench-http): waits a second, times one request on a fresh connection, sends one
  more request on a sample of about 100 held connections, and prints one line:
  `idle connections held: <n>/<count> (opened in <s> s), errors: <e>; fresh request: <status> in
  <ms> ms; held sample answering: <ok>/<n>`.
- `--hold-for SECONDS` (scripts/bench-scale, which measures the server meanwhile): prints
  `held <n> errors <e> opened_in <s>` once all are open, holds them until a line arrives on stdin
  (or stdin closes, or SECONDS pass), then sends one more request on the sample and prints
  `sample_ok <ok>/<n>`.

Exit 1 on any error (a connection not held, a non-200, a sample connection not answering).
"""
import argparse
import resource
import select
import socket
import sys
import time


def read_status(sock):
    """Reads one response (head and Content-Length body) and returns its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        data += chunk
        if len(data) > 65536:
            raise ConnectionError("head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        rest += chunk
    return int(head.split(b" ", 2)[1])


def open_connections(port, count, request):
    """Opens `count` connections (exactly that many attempts), each after one 200 answer."""
    held, errors = [], 0
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(request)
            if read_status(sock) == 200:
                held.append(sock)
            else:
                errors += 1
                sock.close()
        except OSError as error:
            errors += 1
            if errors <= 3:
                print(f"error: {error}", file=sys.stderr, flush=True)
    return held, errors


def sample_answering(held, request):
    """Sends one more request on about 100 of the held connections; returns (answered 200, asked)."""
    sample = held[:: max(1, len(held) // 100)]
    ok = 0
    for sock in sample:
        try:
            sock.sendall(request)
            ok += read_status(sock) == 200
        except OSError:
            pass
    return ok, len(sample)


def fresh_request(port, request):
    """Times one request on a new connection; returns (status, milliseconds), status 0 on an error."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fresh:
            fresh.sendall(request)
            status = read_status(fresh)
    except OSError as error:
        print(f"error: fresh request: {error}", file=sys.stderr, flush=True)
        status = 0
    return status, (time.monotonic() - started) * 1000


def main():
    parser = argparse.ArgumentParser(description="Holds idle keep-alive connections to 127.0.0.1:PORT.")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int, nargs="?", default=10000)
    parser.add_argument("--path", default="/v3/services", help="what each connection GETs (default /v3/services)")
    parser.add_argument("--hold-for", type=float, metavar="SECONDS",
                        help="hold until a line on stdin or SECONDS pass, printing machine-readable lines")
    args = parser.parse_args()
    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 1000), hard))
    started = time.monotonic()
    held, errors = open_connections(args.port, args.count, request)
    opened = time.monotonic() - started

    if args.hold_for is not None:
        print(f"held {len(held)} errors {errors} opened_in {opened:.1f}", flush=True)
        select.select([sys.stdin], [], [], args.hold_for)
        ok, asked = sample_answering(held, request)
        print(f"sample_ok {ok}/{asked}", flush=True)
        fresh_ok = True
    else:
        time.sleep(1)
        status, ms = fresh_request(args.port, request)
        ok, asked = sample_answering(held, request)
        print(f"idle connections held: {len(held)}/{args.count} (opened in {opened:.1f} s), errors: {errors}; "
              f"fresh request: {status} in {ms:.2f} ms; held sample answering: {ok}/{asked}", flush=True)
        fresh_ok = status == 200
    for sock in held:
        sock.close()
    sys.exit(0 if errors == 0 and fresh_ok and ok == asked else 1)


if __name__ == "__main__":
    main()
