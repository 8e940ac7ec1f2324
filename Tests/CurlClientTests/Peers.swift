import Foundation
import SharedTestSupport

/// A python3 `http.server` peer speaking HTTP/1.1 with keep-alive on an ephemeral loopback port.
///
/// Paths: `/ok` 200 with a fixed body; `/echo` 200 with a JSON echo of method, headers and body;
/// `/fail` 500 with a body; `/slow?s=N` answers after N seconds; `/big?n=N` a body of N bytes;
/// `/drip?n=N&gap=G&hold=H` a chunked body of N lines `line I`, G seconds apart, then H quiet seconds
/// before it ends; anything else 404.
final class PythonPeer {
    private let server: PythonServer

    init() throws { server = try PythonServer(script: Self.script, name: "curlclient_peer") }

    var port: Int { server.port }
    var baseURL: String { server.baseURL }

    func stop() { server.stop() }

    static let script = #"""
        import json, os, sys, threading, time
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        from urllib.parse import urlsplit, parse_qs

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type="text/plain", extra=()):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def handle_any(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if parts.path == "/ok":
                    self.reply(200, b"hello from peer")
                elif parts.path == "/echo":
                    echo = {
                        "method": self.command,
                        "path": self.path,
                        "headers": [[k, v] for k, v in self.headers.items()],
                        "body_length": len(body),
                        "body_hex": body.hex() if len(body) <= 4096 else "",
                    }
                    self.reply(200, json.dumps(echo).encode(), "application/json",
                               [("X-Echo-Method", self.command)])
                elif parts.path == "/fail":
                    self.reply(500, b"scheduler exploded")
                elif parts.path == "/slow":
                    time.sleep(float(query.get("s", ["5"])[0]))
                    self.reply(200, b"late")
                elif parts.path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(int(query.get("n", ["1"])[0])):
                        line = ("line %d\n" % i).encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
                        time.sleep(float(query.get("gap", ["0"])[0]))
                    time.sleep(float(query.get("hold", ["0"])[0]))
                    self.wfile.write(b"0\r\n\r\n")
                elif parts.path == "/big":
                    self.reply(200, b"x" * int(query.get("n", ["0"])[0]))
                else:
                    self.reply(404, b"no such path")

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            def handle_error(self, request, client_address):
                pass

        def watch_parent(parent):
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)

        server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
        print("port %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """#
}
