import Foundation
import SharedTestSupport

// Stand-in schedulers for the fault matrix (the life cycle is SharedTestSupport's).

/// A python3 stand-in for a misbehaving scheduler, written to a temporary directory at test time.
/// `POST` answers after `delay` seconds with `status`; `GET /posts` tells how many POSTs arrived.
final class SchedulerStandIn {
    private let server: PythonServer
    var port: Int { server.port }

    static let script = """
        import sys, time, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        status, delay = int(sys.argv[2]), float(sys.argv[3])
        lock = threading.Lock()
        posts = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, code, body):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                global posts
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    posts += 1
                time.sleep(delay)
                try:
                    if status == 204:
                        self.send_response(204)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self.reply(status, '{"computeFault": {"code": %d, "message": "scheduler stand-in failure"}}' % status)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                with lock:
                    count = posts
                self.reply(200, '{"posts": %d}' % count)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        print("port %d" % server.server_address[1], flush=True)
        server.serve_forever()
        """

    init(status: Int, delay: Double) throws {
        server = try PythonServer(
            script: Self.script, name: "scheduler_peer", arguments: [String(status), String(delay)])
    }

    var capabilitiesURL: String { "http://127.0.0.1:\(port)/v3/scheduler/capabilities" }

    func posts(using api: JSONClient) -> Int {
        ((try? api.get("http://127.0.0.1:\(port)/posts"))?.json["posts"] as? Int) ?? -1
    }

    func stop() { server.stop() }
}

extension NghttpdServer {
    /// nghttpd as an HTTP/2-only scheduler stand-in: cleartext, prior knowledge only, answering
    /// `POST /v3/scheduler/capabilities` with 200 from its document root, its frames logged (`log`).
    static func schedulerStandIn() throws -> NghttpdServer {
        try NghttpdServer(files: ["v3/scheduler/capabilities": "{}"], frameLog: true)
    }

    var capabilitiesURL: String { baseURL + "/v3/scheduler/capabilities" }
}
