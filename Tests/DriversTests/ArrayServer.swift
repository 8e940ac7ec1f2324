import Foundation
import SharedTestSupport

/// A stand-in storage array: a python3 HTTP server on an ephemeral loopback port that plays the
/// answer the test chooses (`ok`, `500`, `401`, `404`, `malformed`, `off-contract`, `down`, `slow`).
/// It binds at once but only listens when `startListening()` is called, so until then connections
/// are refused on a port the driver already knows: an array that comes up late.
final class ArrayServer {
    static let script = #"""
        import http.server, json, os, sys, threading, time

        directory = sys.argv[1] if len(sys.argv) > 1 else "."

        def mode():
            with open(os.path.join(directory, "mode")) as f:
                return f.read().strip()

        HEALTH = {"status": "ok", "vendor": "Acme Storage", "model": "AS-9000", "firmware_version": "4.2.1",
                  "storage_protocol": "FC"}
        CAPACITY = {"pools": [
            {"name": "gold", "total_capacity_gb": 1024, "free_capacity_gb": 512.257, "thin_provisioning_support": True,
             "max_over_subscription_ratio": 10},
            {"name": "silver", "total_capacity_gb": 2048.5, "free_capacity_gb": 2000},
        ]}
        DOWN = {"status": "down", "message": "all paths lost"}
        OFF_CONTRACT = {"pools": [{"name": "gold", "total_capacity_gb": "lots", "free_capacity_gb": 1}]}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with open(os.path.join(directory, "requests"), "a") as f:
                    f.write("%s %s\n" % (self.path, self.headers.get("Authorization", "-")))
                m = mode()
                if m == "slow":
                    time.sleep(5)
                    return self.answer(200, HEALTH)
                if m == "500":
                    return self.answer(500, {"message": "controller failover in progress"})
                if m == "401":
                    return self.answer(401, {"message": "bad credentials"})
                if m == "404":
                    return self.answer(404, "no such page")
                if m == "down":
                    return self.answer(200, DOWN)
                if m == "malformed":
                    return self.answer(200, '{"status": "ok",, }')
                if self.path.endswith("/health"):
                    return self.answer(200, HEALTH)
                if self.path.endswith("/capacity"):
                    if m == "off-contract":
                        return self.answer(200, OFF_CONTRACT)
                    return self.answer(200, CAPACITY)
                return self.answer(404, {"message": "unknown path"})

        if __name__ == "__main__":
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
            server.daemon_threads = True
            server.server_bind()
            print("port %d" % server.server_address[1], flush=True)
            sys.stdin.readline()
            server.server_activate()
            threading.Thread(target=server.serve_forever, daemon=True).start()
            print("listening", flush=True)
            sys.stdin.readline()
        """#

    private let server: PythonServer
    var port: Int { server.port }

    init(mode: String = "ok") throws {
        server = try PythonServer(script: Self.script, name: "array_server")
        try "".write(toFile: server.directory + "/requests", atomically: true, encoding: .utf8)
        try setMode(mode)
    }

    var url: String { "http://127.0.0.1:\(port)/api/v1" }

    func setMode(_ mode: String) throws {
        try mode.write(toFile: server.directory + "/mode", atomically: true, encoding: .utf8)
    }

    /// Starts accepting connections; returns once the socket listens.
    func startListening() {
        server.send(line: "listen")
        server.waitForOutput { $0.contains("listening") }
    }

    /// `path authorization` per request received, in order.
    func requests() throws -> [String] {
        try String(contentsOfFile: server.directory + "/requests", encoding: .utf8)
            .split(separator: "\n").map(String.init)
    }
}
