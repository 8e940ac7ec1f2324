import Foundation
import SharedTestSupport
import Synchronization
import Testing

@testable import CurlClient

/// Bytes a stream delivered, shared with the thread that stops it.
final class StreamLog: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    let stop = Atomic<Bool>(false)

    func append(_ chunk: UnsafeRawBufferPointer) { bytes.withLock { $0.append(contentsOf: chunk) } }
    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
}

@Suite(
    "CurlClient streaming against a python3 peer", .offCooperativePool,
    .enabled(if: Tool.available("python3"), "python3 is not installed; scripts/setup --test installs it"))
struct CurlStreamTests {
    @Test func deliversChunksAsTheyArriveAndOutlivesTheTotalTimeout() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        // The stream lasts about 2 s; the client's total timeout of 1 s does not apply to streams.
        let client = try CurlClient(configuration: .init(totalTimeout: 1))
        let log = StreamLog()
        let end = try client.stream(
            CurlRequest(method: "POST", url: "\(peer.baseURL)/drip?n=3&gap=0.7", body: Array("{}".utf8)),
            shouldContinue: { true }
        ) { chunk in
            log.append(chunk)
            return true
        }
        #expect(end.response.status == 200)
        #expect(end.response.body.isEmpty)
        #expect(!end.stoppedByCaller)
        #expect(log.text == "line 0\nline 1\nline 2\n")
        // The handle goes back to the pool and serves an ordinary call afterwards.
        #expect(try client.get("\(peer.baseURL)/ok").bodyText == "hello from peer")
    }

    @Test func receiverStopsTheStream() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let log = StreamLog()
        let end = try client.stream(
            CurlRequest(url: "\(peer.baseURL)/drip?n=50&gap=0.2"), shouldContinue: { true }
        ) { chunk in
            log.append(chunk)
            return false
        }
        #expect(end.stoppedByCaller)
        #expect(log.text == "line 0\n")
    }

    @Test func anotherThreadStopsAQuietStream() throws {
        let peer = try PythonPeer()
        defer { peer.stop() }
        let client = try CurlClient()
        let log = StreamLog()
        let stopper = Thread {
            // Stop once the first line arrived; then nothing more comes for 60 s.
            _ = waitUntil(seconds: 60) { log.text.contains("line 0") }
            log.stop.store(true, ordering: .relaxed)
        }
        stopper.start()
        let started = Date()
        let end = try client.stream(
            CurlRequest(url: "\(peer.baseURL)/drip?n=1&hold=60"),
            shouldContinue: { !log.stop.load(ordering: .relaxed) }
        ) { chunk in
            log.append(chunk)
            return true
        }
        #expect(end.stoppedByCaller)
        #expect(Date().timeIntervalSince(started) < 30, "stopped long before the peer's 60 s hold")
    }

    @Test func clientCertificateOptionsGoTogether() {
        #expect(throws: CurlError.self) { try CurlClient(configuration: .init(clientCertificateFile: "/c.pem")) }
        #expect(throws: CurlError.self) {
            try CurlClient(configuration: .init(clientCertificateFile: "", clientKeyFile: "/k.pem"))
        }
        #expect(throws: Never.self) {
            try CurlClient(configuration: .init(clientCertificateFile: "/c.pem", clientKeyFile: "/k.pem"))
        }
    }
}
