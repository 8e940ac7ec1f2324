// Ordinary requests through the curl binary.

import Foundation
import SharedTestSupport
import Testing

@testable import HTTPServer

@Suite(
    .offCooperativePool, .enabled(if: Tool.available("curl"), "curl is not installed; scripts/setup --test installs it")
)
struct CurlTests {
    @Test func getReturnsBodyWithStandardHeaders() throws {
        try withServer { _, port in
            let result = try curl(["http://127.0.0.1:\(port)/v3/services"])
            #expect(result.status == 200)
            #expect(curlBody(result.output) == String(decoding: servicesBody, as: UTF8.self))
            #expect(result.output.contains("Content-Length: \(servicesBody.count)\r\n"))
            #expect(result.output.contains("Content-Type: application/json\r\n"))
            #expect(result.output.contains("Server: volumed\r\n"))
            #expect(result.output.contains("ETag: \"v7\"\r\n"))
            #expect(
                result.output.range(
                    of: #"Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n"#,
                    options: .regularExpression) != nil)
            try expectServes(port)
        }
    }

    @Test func headHasLengthButNoBody() throws {
        try withServer { _, port in
            let result = try curl(["-I", "http://127.0.0.1:\(port)/v3/services"])
            #expect(result.status == 200)
            #expect(result.output.contains("Content-Length: \(servicesBody.count)\r\n"))
            #expect(curlBody(result.output) == "")
            try expectServes(port)
        }
    }

    @Test func postBodyReachesHandler() throws {
        try withServer { _, port in
            let result = try curl(["-X", "POST", "--data-binary", "hello body", "http://127.0.0.1:\(port)/echo"])
            #expect(result.status == 200)
            #expect(curlBody(result.output) == "hello body")
            let chunked = try curl([
                "-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", "chunked body",
                "http://127.0.0.1:\(port)/echo",
            ])
            #expect(chunked.status == 200)
            #expect(curlBody(chunked.output) == "chunked body")
            try expectServes(port)
        }
    }

    @Test func keepAliveConnectionIsReused() throws {
        try withServer { _, port in
            let result = try curl(["-v", "http://127.0.0.1:\(port)/ping", "http://127.0.0.1:\(port)/v3/services"])
            #expect(result.status == 200)
            #expect(result.errors.contains("Re-using existing connection"))
            #expect(result.output.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        }
    }

    @Test func unknownPathIs404FaultAndWrongMethodIs405WithAllow() throws {
        try withServer { _, port in
            let missing = try curl(["http://127.0.0.1:\(port)/nothing/here"])
            #expect(missing.status == 404)
            #expect(curlBody(missing.output) == "The resource could not be found.")
            let wrong = try curl(["-X", "PATCH", "http://127.0.0.1:\(port)/drivers/abc"])
            #expect(wrong.status == 405)
            #expect(wrong.output.contains("Allow: DELETE, GET, HEAD\r\n"))
            #expect(curlBody(wrong.output) == "The method PATCH is not allowed for this resource.")
            try expectServes(port)
        }
    }

    @Test func queryAndPathParametersAreDecoded() throws {
        try withServer { _, port in
            let query = try curl(["http://127.0.0.1:\(port)/query?host=node%40lvm%231&name=a+b&flag&empty=&x=1&x=2"])
            #expect(query.status == 200)
            #expect(curlBody(query.output) == "host=node@lvm#1|name=a b|flag=|empty=|x=1|x=2")
            let path = try curl(["http://127.0.0.1:\(port)/drivers/lvm%2F1%20x"])
            #expect(curlBody(path.output) == "driver:lvm/1 x")
            let literal = try curl(["http://127.0.0.1:\(port)/drivers/stats"])
            #expect(curlBody(literal.output) == "stats")
            let two = try curl(["http://127.0.0.1:\(port)/path/%E2%9C%93/b/"])
            #expect(curlBody(two.output) == "✓+b")
        }
    }

    @Test func matchingETagGives304() throws {
        try withServer { _, port in
            let url = "http://127.0.0.1:\(port)/v3/services"
            for header in [#""v7""#, #"W/"v7""#, #""other", "v7""#, "*"] {
                let result = try curl(["-H", "If-None-Match: \(header)", url])
                #expect(result.status == 304, "If-None-Match: \(header)")
                #expect(result.output.contains("ETag: \"v7\"\r\n"))
                #expect(curlBody(result.output) == "")
            }
            let stale = try curl(["-H", #"If-None-Match: "v6""#, url])
            #expect(stale.status == 200)
            #expect(curlBody(stale.output).utf8.count == servicesBody.count)
        }
    }

    @Test func handlerErrorsBecomeFaults() throws {
        try withServer { _, port in
            let conflict = try curl(["http://127.0.0.1:\(port)/fail"])
            #expect(conflict.status == 409)
            #expect(conflict.output.contains("Content-Type: application/x-busy\r\n"))
            #expect(conflict.output.contains("Retry-After: 1\r\n"))
            #expect(curlBody(conflict.output) == #"<busy>busy "now"</busy>"#)
            let crash = try curl(["http://127.0.0.1:\(port)/crash"])
            #expect(crash.status == 500)
            #expect(
                curlBody(crash.output)
                    == "The server has either erred or is incapable of performing the requested operation.")
            try expectServes(port)
        }
    }

    @Test func deferredResponsesAnswer() throws {
        try withServer { _, port in
            let slow = try curl(["http://127.0.0.1:\(port)/slow?ms=50"])
            #expect(slow.status == 200)
            #expect(curlBody(slow.output) == "slow done")
            let immediate = try curl(["http://127.0.0.1:\(port)/immediate"])
            #expect(curlBody(immediate.output) == "at once")
            let forgotten = try curl(["http://127.0.0.1:\(port)/forgetful"])
            #expect(forgotten.status == 500)
            #expect(curlBody(forgotten.output) == "The request handler finished without answering.")
            try expectServes(port)
        }
    }

    @Test func servesIPv6Loopback() throws {
        var configuration = HTTPServerConfiguration(host: "::1", port: 0)
        configuration.eventLoopCount = 1
        let server = HTTPServer(configuration: configuration, router: testRouter(), logger: quietLogger)
        do {
            try server.start()
        } catch HTTPServerError.cannotListen {
            return  // no IPv6 on this machine
        }
        defer { server.shutdown(gracePeriod: .seconds(1)) }
        let port = try #require(server.localPort)
        let result = try curl(["http://[::1]:\(port)/peer"])
        #expect(result.status == 200)
        #expect(curlBody(result.output) == "true ::1")
    }

    @Test func observerSeesRoutePatternAndStatus() throws {
        let records = LockedRecords()
        try withServer(onResponse: { records.append($0) }) { _, port in
            try curl(["http://127.0.0.1:\(port)/drivers/x"])
            try curl(["http://127.0.0.1:\(port)/nowhere"])
            try curl(["-X", "POST", "http://127.0.0.1:\(port)/drivers/x"])
            #expect(waitUntil { records.count == 3 })
            #expect(
                records.all == [
                    ResponseRecord(routePattern: "/drivers/{id}", method: .get, status: .ok),
                    ResponseRecord(routePattern: nil, method: .get, status: .notFound),
                    ResponseRecord(routePattern: "/drivers/{id}", method: .post, status: .methodNotAllowed),
                ])
        }
    }

    @Test func portInUseIsATypedError() throws {
        try withServer { _, port in
            var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: port)
            configuration.eventLoopCount = 2
            let second = HTTPServer(configuration: configuration, router: Router(), logger: quietLogger)
            #expect(throws: HTTPServerError.cannotListen(address: "127.0.0.1:\(port)", errno: EADDRINUSE)) {
                try second.start()
            }
            try expectServes(port)
        }
    }

    /// Two servers started at the same moment on one fixed port: never both (the first listener
    /// listens without SO_REUSEPORT and only then opens its own port group).
    @Test func twoServersRacingForOnePortNeverShareIt() throws {
        var exactlyOne = 0
        for _ in 0..<100 {
            let probe = HTTPServer(
                configuration: HTTPServerConfiguration(host: "127.0.0.1", port: 0), router: Router(),
                logger: quietLogger)
            try probe.start()
            let port = try #require(probe.localPort)
            probe.shutdown(gracePeriod: .seconds(1))

            let servers = (0..<2).map { _ in
                var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: port)
                configuration.eventLoopCount = 2
                return HTTPServer(configuration: configuration, router: Router(), logger: quietLogger)
            }
            let started = LockedCounter()
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                if (try? servers[index].start()) != nil { started.increment() }
            }
            defer { for server in servers { server.shutdown(gracePeriod: .seconds(1)) } }
            // Another program may take a just-freed port: then neither starts, which is still not sharing.
            #expect(started.value <= 1)
            if started.value == 1 { exactlyOne += 1 }
        }
        #expect(exactlyOne >= 90, "one of the two should start almost every time, started in \(exactlyOne) of 100")
    }

    @Test func badAddressIsATypedError() {
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(host: "not an address", port: 0), router: Router())
        #expect(throws: HTTPServerError.invalidAddress("not an address:0")) { try server.start() }
    }

    /// Host names are resolved when the server binds (as Cinder binds `osapi_volume_listen`).
    @Test func aHostNameIsResolvedAndOneThatDoesNotResolveIsATypedError() throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "localhost", port: 0), router: Router())
        try server.start()
        #expect(server.localPort != nil)
        server.shutdown(gracePeriod: .seconds(1))
        let unresolved = HTTPServer(
            configuration: HTTPServerConfiguration(host: "no-such-host.invalid", port: 0), router: Router())
        let error = #expect(throws: HTTPServerError.self) { try unresolved.start() }
        guard case .cannotResolve(host: "no-such-host.invalid", _)? = error else {
            Issue.record("expected cannotResolve, got \(String(describing: error))")
            return
        }
    }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

final class LockedRecords: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [ResponseRecord] = []
    func append(_ record: ResponseRecord) { lock.withLock { records.append(record) } }
    var count: Int { lock.withLock { records.count } }
    var all: [ResponseRecord] { lock.withLock { records } }
}
