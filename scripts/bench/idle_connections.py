#!/usr/bin/env python3
"""Holds N idle keep-alive connections to a server, then times a request on a fresh one.

Usage: idle_connections.py <port> [count]
Each held connection first completes one GET /v3/services (so it is a real keep-alive connection),
then stays open and idle. Prints how many were held, errors seen, the fresh request's latency, and
whether a sample of held connections still answers. Exit 1 on any error.
"""
import resource
import socket
import sys
import time

REQUEST = b"GET /v3/services HTTP/1.1\r\nHost: bench\r\n\r\n"


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
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
    return status


def main():
    port = int(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    held, errors = [], 0
    started = time.monotonic()
    for _ in range(count):  # bounded: exactly `count` attempts
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(REQUEST)
            if read_response(sock) != 200:
                errors += 1
            held.append(sock)
        except OSError as error:
            errors += 1
            if errors <= 3:
                print(f"error: {error}", file=sys.stderr)
    opened = time.monotonic() - started
    time.sleep(1)
    fresh_started = time.monotonic()
    fresh = socket.create_connection(("127.0.0.1", port), timeout=10)
    fresh.sendall(REQUEST)
    fresh_status = read_response(fresh)
    fresh_ms = (time.monotonic() - fresh_started) * 1000
    fresh.close()
    sample_ok = 0
    sample = held[:: max(1, len(held) // 100)]
    for sock in sample:
        try:
            sock.sendall(REQUEST)
            if read_response(sock) == 200:
                sample_ok += 1
        except OSError:
            pass
    for sock in held:
        sock.close()
    print(f"idle connections held: {len(held)}/{count} (opened in {opened:.1f} s), errors: {errors}; "
          f"fresh request: {fresh_status} in {fresh_ms:.2f} ms; held sample answering: {sample_ok}/{len(sample)}")
    sys.exit(0 if errors == 0 and fresh_status == 200 and sample_ok == len(sample) else 1)


if __name__ == "__main__":
    main()
