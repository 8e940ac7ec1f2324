#!/usr/bin/env python3
"""Holds N idle keep-alive connections to a volumed API for scripts/bench-scale.

Usage: bench_idle_connections.py <port> <count> <max-hold-seconds>
Each connection first completes one `GET /healthz` (so it is a real keep-alive connection), then
stays idle. Prints `held <n> errors <e> opened_in <s>` once all are open, then holds them until a
line arrives on stdin (or stdin closes, or max-hold-seconds pass), then sends one more request on
a sample of 100 of them, prints `sample_ok <ok>/<n>` and closes everything.
"""
import resource
import select
import socket
import sys
import time

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


def read_status(sock):
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


def main():
    port, count, max_hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 500), hard))
    held, errors = [], 0
    started = time.monotonic()
    for _ in range(count):  # bounded: exactly `count` attempts
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(REQUEST)
            if read_status(sock) == 200:
                held.append(sock)
            else:
                errors += 1
                sock.close()
        except OSError as error:
            errors += 1
            if errors <= 3:
                print(f"error: {error}", file=sys.stderr, flush=True)
    print(f"held {len(held)} errors {errors} opened_in {time.monotonic() - started:.1f}", flush=True)
    select.select([sys.stdin], [], [], max_hold)
    sample = held[:: max(1, len(held) // 100)]
    ok = 0
    for sock in sample:
        try:
            sock.sendall(REQUEST)
            ok += read_status(sock) == 200
        except OSError:
            pass
    print(f"sample_ok {ok}/{len(sample)}", flush=True)
    for sock in held:
        sock.close()


if __name__ == "__main__":
    main()
