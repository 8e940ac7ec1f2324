// Timeouts, connection limits, slow or absent readers, concurrency and graceful shutdown.

import Foundation
import SharedTestSupport
import Testing

@testable import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.offCooperativePool) struct LifecycleTests {
    @Test func slowlorisGets408ThenClose() throws {
        try withServer({ $0.headerReadTimeout = .milliseconds(300) }) { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n")
            usleep(100_000)  // the scenario: a slow client, a pause within the head
            try client.send("X-Slow: 1\r\n")
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(response.text == "The request was not received in time.")
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func slowBodyGets408ThenClose() throws {
        try withServer({ $0.bodyReadTimeout = .milliseconds(300) }) { _, port in
            let client = try RawClient(port: port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            #expect(try client.readResponse().status == 408)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        try withServer({ $0.keepAliveIdleTimeout = .milliseconds(300) }) { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            #expect(client.isClosedByServer())
            try expectServes(port)
        }
    }

    @Test func connectionsBeyondTheLimitGet503() throws {
        try withServer({ $0.maxConnections = 3 }) { _, port in
            var held: [RawClient] = []
            for _ in 0..<3 {
                let client = try RawClient(port: port)
                try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try client.readResponse().status == 200)
                held.append(client)
            }
            let extra = try RawClient(port: port)
            let refused = try extra.readResponse()
            #expect(refused.status == 503)
            #expect(refused.text == "The server has too many open connections.")
            #expect(extra.isClosedByServer())
            held.removeLast()
            // The server notices the close asynchronously; then a new client is served.
            let servedAgain = waitUntil {
                guard let client = try? RawClient(port: port, receiveTimeout: 2),
                    (try? client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")) != nil,
                    let response = try? client.readResponse()
                else { return false }
                return response.status == 200
            }
            #expect(servedAgain)
            try held[0].send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try held[0].readResponse().status == 200)
        }
    }

    @Test func clientThatNeverReadsIsDropped() throws {
        try withServer({
            $0.writeTimeout = .milliseconds(400)
            $0.maxQueuedResponseBytes = 2 * 1024 * 1024
        }) { _, port in
            let client = try RawClient(port: port, receiveTimeout: 15)
            // 20 MiB of responses requested, none read.
            let requests = String(repeating: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", count: 20)
            try client.send(requests)
            // Meanwhile others are served.
            try expectServes(port)
            _ = waitUntil(seconds: 15) { client.peerHasClosed() }
            // Draining now ends in EOF or reset well before 20 MiB arrive.
            var received = 0
            var buffer = [UInt8](repeating: 0, count: 65536)
            var ended = false
            for _ in 0..<100_000 {
                let count = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 {
                    ended = true
                    break
                }
                received += count
            }
            #expect(ended)
            #expect(received < 20 * 1024 * 1024)
            try expectServes(port)
        }
    }

    @Test func twoHundredConcurrentConnections() throws {
        try withServer { _, port in
            var clients: [RawClient] = []
            for _ in 0..<200 { clients.append(try RawClient(port: port)) }
            for (index, client) in clients.enumerated() {
                try client.send("GET /drivers/c\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            for (index, client) in clients.enumerated() {
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "driver:c\(index)")
            }
            // Again on the same connections: all were kept alive.
            for client in clients { try client.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n") }
            for client in clients { #expect(try client.readResponse().status == 200) }
        }
    }

    @Test func gracefulShutdownAnswersInFlightDeferredRequest() throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 2
        let server = HTTPServer(configuration: configuration, router: testRouter(), logger: quietLogger)
        try server.start()
        let port = try #require(server.localPort)
        let idle = try RawClient(port: port)
        try idle.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        let busy = try RawClient(port: port)
        try busy.send("GET /slow?ms=500 HTTP/1.1\r\nHost: x\r\n\r\n")
        // The request has reached its handler once the server read its bytes (the handler runs in
        // the same turn of the event loop, before the shutdown below reaches it).
        _ = waitUntil(seconds: 10) { busy.isReadByServer(port: port) }

        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            server.shutdown(gracePeriod: .seconds(10))
            finished.signal()
        }
        let response = try busy.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "slow done")
        #expect(response.header("Connection") == "close")
        #expect(busy.isClosedByServer())
        #expect(idle.isClosedByServer())
        #expect(finished.wait(timeout: .now() + 10) == .success)
        #expect(throws: RawClientError.self) { _ = try RawClient(port: port) }
    }

    @Test func shutdownIsBoundedByTheGracePeriod() throws {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.eventLoopCount = 1
        let server = HTTPServer(configuration: configuration, router: testRouter(), logger: quietLogger)
        try server.start()
        let port = try #require(server.localPort)
        let stuck = try RawClient(port: port)
        try stuck.send("GET /forgetful-never HTTP/1.1\r\nHost: x\r\n")  // a head that never completes
        _ = waitUntil(seconds: 10) { stuck.isReadByServer(port: port) }  // the server holds the half head
        let started = Date()
        server.shutdown(gracePeriod: .milliseconds(300))
        #expect(Date().timeIntervalSince(started) < 8)
        #expect(stuck.isClosedByServer())
        try server.run()  // returns at once: already stopped
    }
}
