// Pure pieces: router matching, entity-tags, faults, targets, dates.

import NetworkAddress
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.offCooperativePool) struct UnitTests {
    private func match(_ router: Router, _ method: HTTPMethod, _ path: String) throws -> Router.Match {
        try router.match(method: method, rawPath: Array(path.utf8)[...])
    }

    @Test func routerPrefersLiteralsAndBacktracks() throws {
        var router = Router()
        router.get("/a/{id}/x") { _ in HTTPResponse() }
        router.get("/a/b/y") { _ in HTTPResponse() }
        router.post("/a/b") { _ in HTTPResponse() }
        guard case .found(let route, let parameters) = try match(router, .get, "/a/b/x") else {
            Issue.record("no match")
            return
        }
        #expect(route.pattern == "/a/{id}/x")
        #expect(parameters == ["id": "b"])
        guard case .found(let literal, _) = try match(router, .get, "/a/b/y/") else {
            Issue.record("no literal match")
            return
        }
        #expect(literal.pattern == "/a/b/y")
        guard case .methodNotAllowed(let pattern, let allow) = try match(router, .get, "/a/b") else {
            Issue.record("expected 405")
            return
        }
        #expect(pattern == "/a/b")
        #expect(allow == [.post])
        guard case .notFound = try match(router, .get, "/a//x") else {
            Issue.record("expected 404")
            return
        }
        guard case .found(let head, _) = try match(router, .head, "/a/q/x") else {
            Issue.record("HEAD should use GET")
            return
        }
        #expect(head.pattern == "/a/{id}/x")
    }

    @Test func entityTagComparisonIsWeak() {
        #expect(EntityTag.ifNoneMatch(#""a""#, matches: #""a""#))
        #expect(EntityTag.ifNoneMatch(#"W/"a""#, matches: #""a""#))
        #expect(EntityTag.ifNoneMatch(#""a""#, matches: #"W/"a""#))
        #expect(EntityTag.ifNoneMatch(#""x" , W/"a""#, matches: #""a""#))
        #expect(EntityTag.ifNoneMatch(" * ", matches: #""a""#))
        #expect(!EntityTag.ifNoneMatch(#""ab""#, matches: #""a""#))
        #expect(!EntityTag.ifNoneMatch("a", matches: #""a""#))
        #expect(!EntityTag.ifNoneMatch(#""a"#, matches: #""a""#))
        #expect(!EntityTag.ifNoneMatch("", matches: #""a""#))
        #expect(EntityTag.strong("v\"1") == #""v1""#)
        #expect(EntityTag.weak("v1") == #"W/"v1""#)
    }

    @Test func requestHelperChecksIfNoneMatch() throws {
        let request = try HTTPRequest(method: .get, target: "/x?a=1", headers: ["If-None-Match": #"W/"v2", "v3""#])
        #expect(request.ifNoneMatchMatches(#""v3""#))
        #expect(!request.ifNoneMatchMatches(#""v4""#))
        #expect(request.query["a"] == "1")
        #expect(request.isFromLoopback)
    }

    @Test("the server's own errors render as plain text by default, each with its status")
    func serverErrorsRenderAsPlainText() {
        let response = HTTPError.notFound("Driver \"x\" not found").response()
        #expect(response.status == .notFound)
        #expect(response.contentType == "text/plain; charset=utf-8")
        #expect(String(decoding: response.body, as: UTF8.self) == "Driver \"x\" not found")
        let method = HTTPError.methodNotAllowed("no", allow: [.get, .head])
        #expect(method.response().headers["allow"] == "GET, HEAD")
        #expect(HTTPError.badRequest("x").headers.isEmpty)
        let statuses: [(HTTPError, Int)] = [
            (.badRequest("x"), 400), (.notFound("x"), 404), (.methodNotAllowed("x", allow: []), 405),
            (.requestTimeout("x"), 408), (.contentTooLarge("x"), 413), (.uriTooLong("x"), 414),
            (.expectationFailed("x"), 417), (.requestHeaderFieldsTooLarge("x"), 431),
            (.internalServerError("x"), 500), (.notImplemented("x"), 501), (.serviceUnavailable("x"), 503),
            (.httpVersionNotSupported("x"), 505),
        ]
        for (error, code) in statuses {
            #expect(error.status.code == code, "\(error)")
            #expect(error.response().status.code == code, "\(error)")
            #expect(error.message == "x")
        }
        #expect(HTTPError.uriTooLong("long").description == "414 URI Too Long: long")
    }

    @Test("a listen name that does not resolve carries the resolver's code and its text")
    func resolutionFailureIsCodeBacked() throws {
        let host = try #require(ListenHost("no-such-host.invalid"))
        let failure = #expect(throws: ListenHost.ResolutionFailure.self) { try host.socketAddress(port: 0) }
        guard case .resolver(let status)? = failure?.code else {
            Issue.record("expected a resolver code, got \(String(describing: failure))")
            return
        }
        #expect(failure?.host == "no-such-host.invalid")
        #expect(failure?.description == "cannot resolve no-such-host.invalid: \(String(cString: gai_strerror(status)))")
        let system = ListenHost.ResolutionFailure(host: "h", code: .system(errno: ENOMEM))
        #expect(system.reason == "Cannot allocate memory")
    }

    @Test func targetsDecode() throws {
        let split = try RequestTarget.split(Array("/a%20b/c?x=1+2&y=%26&z".utf8)[...])
        #expect(split.path == "/a b/c")
        #expect(split.query == ["x": "1 2", "y": "&", "z": ""])
        #expect(throws: HTTPError.self) { try RequestTarget.split(Array("/a%2".utf8)[...]) }
        #expect(throws: HTTPError.self) { try RequestTarget.split(Array("/%FF".utf8)[...]) }
        #expect(try RequestTarget.split(Array("/".utf8)[...]).path == "/")
        #expect(try RequestTarget.split(Array("http://h:1?q=1".utf8)[...]).path == "/")
    }

    @Test func headersAreCaseInsensitiveAndSanitized() {
        var headers: HTTPHeaders = ["X-One": "1", "x-one": "2"]
        #expect(headers["X-ONE"] == "1")
        #expect(headers.values(forName: "x-one") == ["1", "2"])
        headers.replaceOrAdd(name: "X-One", value: "3\r\nInjected: yes")
        #expect(headers.values(forName: "x-one") == ["3  Injected: yes"])
        headers.remove(name: "X-ONE")
        #expect(headers.isEmpty)
    }

    @Test func datesAreIMFFixdate() {
        #expect(DateCache.imfFixdate(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(DateCache.imfFixdate(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }

    @Test func peerAddressesFormat() {
        let v6 = PeerAddress(
            family: .ipv6, bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1], port: 80)
        #expect(v6.host == "2001:db8::1")
        #expect(v6.description == "[2001:db8::1]:80")
        #expect(!v6.isLoopback)
        let mapped = PeerAddress(
            family: .ipv6, bytes: [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1], port: 1)
        #expect(mapped.isLoopback)
        #expect(!PeerAddress(family: .ipv4, bytes: [10, 0, 0, 1], port: 1).isLoopback)
    }

    @Test func decimalEncoding() {
        var buffer: [UInt8] = []
        ResponseEncoder.appendDecimal(0, to: &buffer)
        ResponseEncoder.appendDecimal(907, to: &buffer)
        ResponseEncoder.appendDecimal(1_048_576, to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "09071048576")
    }
}
