// The OpenStack fault shape lives in VolumeAPI: the server's own refusals rendered through
// `OpenStackFault.render` are byte for byte the faults volumed has always sent, and a handler's fault
// is a value callers can switch on.

import Foundation
import HTTPServer
import SharedTestSupport
import Testing

@testable import VolumeAPI

@Suite(.offCooperativePool) struct OpenStackFaultTests {
    /// The body volumed sent before the shape moved out of HTTPServer, for a fault named `name`.
    private static func fault(_ name: String, _ code: Int, _ message: String) -> String {
        #"{"\#(name)": {"code": \#(code), "message": "\#(message)"}}"#
    }

    @Test("every server refusal maps to Cinder's fault name and keeps its status, message and fields")
    func everyServerRefusalRendersAsItsFault() {
        let cases: [(HTTPError, name: String, code: Int)] = [
            (.badRequest("m"), "badRequest", 400),
            (.notFound("m"), "itemNotFound", 404),
            (.methodNotAllowed("m", allow: [.get, .head]), "badMethod", 405),
            (.requestTimeout("m"), "requestTimeout", 408),
            (.contentTooLarge("m"), "requestEntityTooLarge", 413),
            (.uriTooLong("m"), "uriTooLong", 414),
            (.expectationFailed("m"), "expectationFailed", 417),
            (.requestHeaderFieldsTooLarge("m"), "requestHeaderFieldsTooLarge", 431),
            (.internalServerError("m"), "computeFault", 500),
            (.notImplemented("m"), "notImplemented", 501),
            (.serviceUnavailable("m"), "serviceUnavailable", 503),
            (.httpVersionNotSupported("m"), "httpVersionNotSupported", 505),
        ]
        for (error, name, code) in cases {
            let response = OpenStackFault.render(error)
            #expect(response.status.code == code, "\(error)")
            #expect(response.status == error.status, "\(error)")
            #expect(response.contentType == "application/json", "\(error)")
            #expect(String(decoding: response.body, as: UTF8.self) == Self.fault(name, code, "m"), "\(error)")
            #expect(OpenStackFault(error).name == name)
        }
        #expect(OpenStackFault.render(.methodNotAllowed("m", allow: [.get, .head])).headers["Allow"] == "GET, HEAD")
        #expect(OpenStackFault.render(.badRequest("m")).headers.isEmpty)
    }

    @Test("fault messages are escaped as every other JSON body")
    func faultBodiesAreEscapedJSON() {
        let response = OpenStackFault.itemNotFound("Driver \"x\\y\"\n\u{01}é not found").response()
        #expect(response.status == .notFound)
        #expect(
            String(decoding: response.body, as: UTF8.self)
                == #"{"itemNotFound": {"code": 404, "message": "Driver \"x\\y\"\n\u0001é not found"}}"#)
    }

    @Test("faults only handlers raise carry their status and fields")
    func handlerFaults() {
        let unauthorized = OpenStackFault.unauthorized("token please", challenge: "X-Auth-Token")
        #expect(unauthorized.status == .unauthorized)
        #expect(unauthorized.response().headers["WWW-Authenticate"] == "X-Auth-Token")
        #expect(
            String(decoding: unauthorized.response().body, as: UTF8.self)
                == Self.fault("unauthorized", 401, "token please"))
        #expect(OpenStackFault.badMediaType("m").status.code == 415)
        #expect(OpenStackFault.badMediaType("m").status.reasonPhrase == "Unsupported Media Type")
        #expect(OpenStackFault.notAcceptable("m").status == .notAcceptable)
        #expect(OpenStackFault.conflict("m").description == "409 conflict: m")
    }

    @Test("a caller can tell faults apart by case, not by parsing their text")
    func faultsAreSwitchable() {
        let refused = OpenStackFault.badMethod("no", allow: [.get])
        switch refused {
        case .badMethod(let message, let allow):
            #expect(message == "no")
            #expect(allow == [.get])
        default:
            Issue.record("expected badMethod, got \(refused)")
        }
        let decided = MicroversionRequest.unsupported(APIVersion(9, 0)).fault()
        guard case .notAcceptable = decided else {
            Issue.record("expected notAcceptable, got \(String(describing: decided))")
            return
        }
    }

    // MARK: through a real server

    private static let router: Router = {
        var router = Router()
        router.get("/ping") { _ in HTTPResponse(body: "{}") }
        router.post("/echo") { request in HTTPResponse(body: request.body) }
        router.get("/crash") { _ in throw CocoaError(.fileNoSuchFile) }
        router.get("/forgetful") { _ in .deferred { _ in } }
        router.get("/refused") { _ in throw OpenStackFault.conflict("Driver \"gold\" is busy.") }
        return router
    }()

    private static func withOpenStackServer(
        _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }, _ body: (Int) throws -> Void
    ) throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        configuration.renderError = OpenStackFault.render
        configure(&configuration)
        let server = HTTPServer(configuration: configuration, router: router, logger: quietLogger)
        try server.start()
        defer { server.shutdown(gracePeriod: .seconds(2)) }
        try body(try #require(server.localPort))
    }

    @Test("the server's protocol errors reach clients as the OpenStack faults volumed always sent")
    func protocolErrorsThroughTheServer() throws {
        try Self.withOpenStackServer({
            $0.maxBodyBytes = 5000
            $0.maxHeaderCount = 10
            $0.maxBufferedRequestBytes = 4000
        }) { port in
            let cases: [(request: String, code: Int, body: String)] = [
                ("GET /ping HTTP/1.1\r\n\r\n", 400, Self.fault("badRequest", 400, "Missing Host header.")),
                (
                    "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404,
                    Self.fault("itemNotFound", 404, "The resource could not be found.")
                ),
                (
                    "PATCH /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405,
                    Self.fault("badMethod", 405, "The method PATCH is not allowed for this resource.")
                ),
                (
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5001\r\n\r\n", 413,
                    Self.fault("requestEntityTooLarge", 413, "The request body of 5001 bytes exceeds 5000 bytes.")
                ),
                (
                    "GET /\(String(repeating: "p", count: 8200)) HTTP/1.1\r\nHost: x\r\n\r\n", 414,
                    Self.fault("uriTooLong", 414, "The request-target is longer than 8192 bytes.")
                ),
                (
                    "GET /ping HTTP/1.1\r\nHost: x\r\n" + (0..<10).map { "X-\($0): y\r\n" }.joined() + "\r\n", 431,
                    Self.fault("requestHeaderFieldsTooLarge", 431, "More than 10 header fields.")
                ),
                (
                    "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: bananas\r\nContent-Length: 1\r\n\r\nx", 417,
                    Self.fault("expectationFailed", 417, "Only 'Expect: 100-continue' is supported.")
                ),
                (
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
                    Self.fault("notImplemented", 501, "Only the 'chunked' transfer coding is supported.")
                ),
                (
                    // A declared body that does not fit in the request budget: 503 before it is read.
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4500\r\n\r\n", 503,
                    Self.fault(
                        "serviceUnavailable", 503,
                        "The server holds too many request bytes from all clients right now; retry later.")
                ),
                (
                    "GET /ping HTTP/2.0\r\nHost: x\r\n\r\n", 505,
                    Self.fault("httpVersionNotSupported", 505, "Only HTTP/1.0 and HTTP/1.1 are supported.")
                ),
                (
                    "GET /crash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 500,
                    Self.fault(
                        "computeFault", 500,
                        "The server has either erred or is incapable of performing the requested operation.")
                ),
                (
                    "GET /forgetful HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 500,
                    Self.fault("computeFault", 500, "The request handler finished without answering.")
                ),
                (
                    "GET /refused HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 409,
                    #"{"conflict": {"code": 409, "message": "Driver \"gold\" is busy."}}"#
                ),
            ]
            for (request, code, body) in cases {
                let client = try RawClient(port: port)
                try client.send(request)
                let response = try client.readResponse()
                #expect(response.status == code, "\(request.prefix(40))")
                #expect(response.header("Content-Type") == "application/json", "\(request.prefix(40))")
                #expect(response.text == body, "\(request.prefix(40))")
                if code == 405 { #expect(response.header("Allow") == "GET, HEAD") }
            }
        }
    }

    @Test("a slow client's 408 and the connection limit's 503 are OpenStack faults too")
    func timeoutAndConnectionLimit() throws {
        try Self.withOpenStackServer({
            $0.headerReadTimeout = .milliseconds(300)
            $0.maxConnections = 1
        }) { port in
            let slow = try RawClient(port: port)
            try slow.send("GET /ping HTTP/1.1\r\nHost: x\r\n")
            let refused = try RawClient(port: port).readResponse()
            #expect(refused.status == 503)
            #expect(refused.text == Self.fault("serviceUnavailable", 503, "The server has too many open connections."))
            let timedOut = try slow.readResponse()
            #expect(timedOut.status == 408)
            #expect(timedOut.text == Self.fault("requestTimeout", 408, "The request was not received in time."))
        }
    }
}
