import Foundation
import SharedTestSupport
import Synchronization
import Testing

@testable import CurlClient

/// The peer's JSON echo of what it received.
struct Echo: Decodable {
    let method: String
    let path: String
    let headers: [[String]]
    let body_length: Int
    let body_hex: String

    func header(_ name: String) -> String? {
        headers.first { $0.first?.lowercased() == name.lowercased() }?.last
    }

    static func decode(_ response: CurlResponse) throws -> Echo {
        try JSONDecoder().decode(Echo.self, from: Data(response.body))
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

@Suite(
    "CurlClient against a python3 HTTP/1.1 peer", .offCooperativePool,
    .enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it"))
struct CurlClientPeerTests {
    @Test func getReturnsStatusHeadersAndBody() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let response = try client.get("\(peer.baseURL)/ok")
        #expect(response.status == 200)
        #expect(response.bodyText == "hello from peer")
        #expect(response.header("content-length") == "15")
        #expect(response.header("Content-Type") == "text/plain")
        #expect(response.httpVersion == .http1_1)
        #expect(response.newConnections == 1)
    }

    @Test func postEchoesMethodHeadersAndBody() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let body: [UInt8] = Array(#"{"host": "node1@nfs-gold", "ünï": 1}"#.utf8) + [0, 255, 10]
        let response = try client.post(
            "\(peer.baseURL)/echo?x=1", body: body, headers: [CurlHeader("X-Volumed-Test", "abc def")])
        #expect(response.status == 200)
        #expect(response.header("X-Echo-Method") == "POST")
        let echo = try Echo.decode(response)
        #expect(echo.method == "POST")
        #expect(echo.path == "/echo?x=1")
        #expect(echo.body_hex == hex(body))
        #expect(echo.body_length == body.count)
        #expect(echo.header("X-Volumed-Test") == "abc def")
        #expect(echo.header("Content-Type") == "application/json")
        #expect(echo.header("Content-Length") == String(body.count))
        #expect(echo.header("User-Agent") == "volumed")
        #expect(echo.header("Expect") == nil)
    }

    @Test func putDeleteAndHeadUseTheirMethods() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let put = try client.send(CurlRequest(method: "PUT", url: "\(peer.baseURL)/echo", body: [1, 2, 3]))
        let putEcho = try Echo.decode(put)
        #expect(putEcho.method == "PUT")
        #expect(putEcho.body_hex == "010203")
        #expect(putEcho.header("Content-Type") == nil)

        let delete = try client.send(CurlRequest(method: "DELETE", url: "\(peer.baseURL)/echo"))
        let deleteEcho = try Echo.decode(delete)
        #expect(deleteEcho.method == "DELETE")
        #expect(deleteEcho.body_length == 0)

        let head = try client.send(CurlRequest(method: "HEAD", url: "\(peer.baseURL)/ok"))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("Content-Length") == "15")

        let emptyPost = try client.send(CurlRequest(method: "POST", url: "\(peer.baseURL)/echo", body: []))
        let emptyEcho = try Echo.decode(emptyPost)
        #expect(emptyEcho.method == "POST")
        #expect(emptyEcho.header("Content-Length") == "0")
    }

    @Test func largeBodyIsSentWithoutExpectContinue() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let body = [UInt8](repeating: 0x41, count: 2 * 1024 * 1024)
        let echo = try Echo.decode(try client.post("\(peer.baseURL)/echo", body: body))
        #expect(echo.body_length == body.count)
        #expect(echo.header("Expect") == nil)
    }

    @Test func serverErrorComesBackAsResponse() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let response = try client.post("\(peer.baseURL)/fail", body: Array("{}".utf8))
        #expect(response.status == 500)
        #expect(response.bodyText == "scheduler exploded")
        let missing = try client.get("\(peer.baseURL)/nowhere")
        #expect(missing.status == 404)
        #expect(client.statistics.failures == 0)
    }

    @Test func slowAnswerHitsTheTotalTimeout() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient(configuration: .init(connectTimeout: 5, totalTimeout: 0.5))
        let error = #expect(throws: CurlError.self) { try client.get("\(peer.baseURL)/slow?s=10") }
        #expect(error?.isTimeout == true)
        #expect(error?.code == 28)
        #expect(error?.isConnectFailure == false)
        #expect(error?.detail.contains("timed out") == true)
        #expect(client.statistics.failures == 1)
        // The handle stays usable after a timeout.
        #expect(try client.get("\(peer.baseURL)/ok").status == 200)
    }

    @Test func keepAliveReusesOneConnection() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        var opened: [Int] = []
        for index in 0..<6 {
            let response = try client.post("\(peer.baseURL)/echo", body: Array("report \(index)".utf8))
            #expect(response.status == 200)
            opened.append(response.newConnections)
        }
        #expect(opened == [1, 0, 0, 0, 0, 0])
        let statistics = client.statistics
        #expect(statistics.requests == 6)
        #expect(statistics.connectionsOpened == 1)
        #expect(statistics.handlesCreated == 1)
        #expect(statistics.failures == 0)
    }

    @Test func responseBodyCapFailsTheTransfer() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient(configuration: .init(maxResponseBodyBytes: 1000))
        #expect(try client.get("\(peer.baseURL)/big?n=1000").body.count == 1000)
        let error = #expect(throws: CurlError.self) { try client.get("\(peer.baseURL)/big?n=5000") }
        #expect(error?.isResponseTooLarge == true)
    }

    @Test func concurrentCallsFromSeveralThreads() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let threads = 4
        let perThread = 10
        let mismatches = Mutex(0)
        let url = "\(peer.baseURL)/echo"
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                let body = Array("thread \(thread) request \(index)".utf8)
                let echoed = (try? client.post(url, body: body))
                    .flatMap { try? Echo.decode($0) }?.body_hex
                if echoed != hex(body) { mismatches.withLock { $0 += 1 } }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
        let statistics = client.statistics
        #expect(statistics.requests == threads * perThread)
        #expect(statistics.failures == 0)
        #expect(statistics.handlesCreated >= 1 && statistics.handlesCreated <= threads)
        #expect(statistics.connectionsOpened == statistics.handlesCreated)
    }
}

@Suite("CurlClient failures without a peer", .offCooperativePool)
struct CurlClientFailureTests {
    @Test func closedPortIsAConnectFailure() throws {
        let port = try #require(Loopback.reservePort())
        let client = try CurlClient(configuration: .init(connectTimeout: 5, totalTimeout: 10))
        let error = #expect(throws: CurlError.self) { try client.get("http://127.0.0.1:\(port)/ok") }
        #expect(error?.isConnectFailure == true)
        #expect(error?.code == 7)
        #expect(error?.isTimeout == false)
        #expect(error?.message == "Couldn't connect to server")
        #expect(error?.detail.isEmpty == false)
    }

    @Test func badRequestsAreRefusedBeforeSending() throws {
        let client = try CurlClient()
        let scheme = #expect(throws: CurlError.self) { try client.get("ftp://127.0.0.1/file") }
        #expect(scheme?.code == 43)
        #expect(scheme?.detail == #"URL "ftp://127.0.0.1/file" is not an absolute http:// or https:// URL"#)

        let space = #expect(throws: CurlError.self) { try client.get("http://127.0.0.1/a b") }
        #expect(space?.detail == #"URL "http://127.0.0.1/a b" contains a space or control character"#)

        let injected = #expect(throws: CurlError.self) {
            try client.get("http://127.0.0.1:1/", headers: [CurlHeader("X-A", "1\r\nX-B: 2")])
        }
        #expect(injected?.detail == "header field X-A has a control character in its value")

        let badName = #expect(throws: CurlError.self) {
            try client.get("http://127.0.0.1:1/", headers: [CurlHeader("Bad Name", "1")])
        }
        #expect(badName?.detail == #"invalid header field name "Bad Name""#)

        let method = #expect(throws: CurlError.self) {
            try client.send(CurlRequest(method: "GE T", url: "http://127.0.0.1:1/"))
        }
        #expect(method?.detail == #"invalid HTTP method "GE T""#)

        let head = #expect(throws: CurlError.self) {
            try client.send(CurlRequest(method: "HEAD", url: "http://127.0.0.1:1/", body: [1]))
        }
        #expect(head?.detail == "a HEAD request cannot carry a body")
        #expect(client.statistics.failures == 6)
    }

    @Test func malformedURLIsLibcurlsError() throws {
        let client = try CurlClient()
        let error = #expect(throws: CurlError.self) { try client.get("http://[::1/") }
        #expect(error?.code == 3)
        #expect(error?.message == "URL using bad/illegal format or missing URL")
    }

    @Test func unusableConfigurationIsRefused() {
        let negative = #expect(throws: CurlError.self) {
            _ = try CurlClient(configuration: .init(connectTimeout: -1))
        }
        #expect(negative?.detail == "connectTimeout must be a positive number of seconds, got -1.0")
        let infinite = #expect(throws: CurlError.self) {
            _ = try CurlClient(configuration: .init(totalTimeout: .infinity))
        }
        #expect(infinite?.detail == "totalTimeout must be a positive number of seconds, got inf")
        let cap = #expect(throws: CurlError.self) {
            _ = try CurlClient(configuration: .init(maxResponseBodyBytes: -5))
        }
        #expect(cap?.detail == "maxResponseBodyBytes must not be negative")
    }
}

@Suite("CurlClient HTTP/2", .offCooperativePool)
struct CurlClientHTTP2Tests {
    @Test(
        .enabled(
            if: Tool.available("nghttpd"), "nghttpd is not installed; scripts/setup --test installs it (nghttp2-server)"
        ))
    func priorKnowledgeAgainstNghttpd() throws {
        let peer = try NghttpdServer(files: ["pools.json": #"{"pools": []}"#])
        defer { peer.stop() }
        let client = try CurlClient(configuration: .init(httpVersion: .http2))
        var opened: [Int] = []
        for _ in 0..<3 {
            let response = try client.get("\(peer.baseURL)/pools.json")
            #expect(response.status == 200)
            #expect(response.httpVersion == .http2)
            #expect(response.bodyText == #"{"pools": []}"#)
            opened.append(response.newConnections)
        }
        #expect(opened == [1, 0, 0])
        #expect(try client.get("\(peer.baseURL)/missing").status == 404)
    }

    @Test(
        .enabled(
            if: Tool.available("nghttpd"), "nghttpd is not installed; scripts/setup --test installs it (nghttp2-server)"
        ))
    func priorKnowledgeSurvivesAPeerRestart() throws {
        let peer = try NghttpdServer(files: ["a.txt": "first"])
        defer { peer.stop() }
        let client = try CurlClient(configuration: .init(httpVersion: .http2))
        #expect(try client.get("\(peer.baseURL)/a.txt").newConnections == 1)
        #expect(try client.get("\(peer.baseURL)/a.txt").newConnections == 0)
        try peer.restart()
        let afterRestart = try client.get("\(peer.baseURL)/a.txt")
        #expect(afterRestart.status == 200)
        #expect(afterRestart.httpVersion == .http2)
        #expect(afterRestart.bodyText == "first")
        // On libcurl 7.88 the first attempt reopens with HTTP/1.1, is refused, and is repeated with prior knowledge.
        #expect(afterRestart.newConnections == (H2CReuseWorkaround.isNeeded ? 2 : 1))
        #expect(try client.get("\(peer.baseURL)/a.txt").newConnections == 0)
    }

    @Test(
        .enabled(
            if: Tool.available("nghttpd", "openssl"),
            "nghttpd or openssl is not installed; scripts/setup --test installs them (nghttp2-server, openssl)"))
    func alpnOverTLSWithACAFile() throws {
        let directory = URL(fileURLWithPath: temporaryDirectory("curlclient"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = try TestCertificate(in: directory.path)
        let peer = try NghttpdServer(files: ["b.txt": "secure"], tls: certificate)
        defer { peer.stop() }

        let trusting = try CurlClient(configuration: .init(httpVersion: .http2, caFile: certificate.certificatePath))
        var opened: [Int] = []
        for _ in 0..<2 {
            let response = try trusting.get("\(peer.baseURL)/b.txt")
            #expect(response.status == 200)
            #expect(response.httpVersion == .http2)
            #expect(response.bodyText == "secure")
            opened.append(response.newConnections)
        }
        #expect(opened == [1, 0])

        let systemTrust = try CurlClient(configuration: .init(httpVersion: .http2))
        let untrusted = #expect(throws: CurlError.self) { try systemTrust.get("\(peer.baseURL)/b.txt") }
        #expect(untrusted?.isTLSFailure == true)

        let unverified = try CurlClient(configuration: .init(httpVersion: .http2, verifyTLS: false))
        #expect(try unverified.get("\(peer.baseURL)/b.txt").bodyText == "secure")
    }
}
