// Kept out of main.swift: closures in its top-level code would be @MainActor and trap on Dispatch.

import Dispatch
import Foundation
import HTTPServer
import Logging
import OpenStackHooks

enum BenchServer {
    static func main(_ arguments: [String]) {
        if arguments.count >= 2 && arguments[1] == "--hook-cost" {
            hookCost()
            return
        }
        guard arguments.count >= 3, let port = Int(arguments[2]),
            let bytes = FileManager.default.contents(atPath: arguments[1])
        else {
            FileHandle.standardError.write(Data("usage: volumed-http-bench <body.json> <port> [event-loops] [openstack]\n".utf8))
            exit(2)
        }
        let body = [UInt8](bytes)
        var router = Router()
        router.get("/v3/services") { _ in HTTPResponse(body: body) }
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: port)
        if arguments.count >= 4, let loops = Int(arguments[3]) { configuration.eventLoopCount = loops }
        var logger = Logger(label: "volumed-http-bench")
        logger.logLevel = .warning
        // "openstack": every response also carries the OpenStack microversion and request-id fields
        // volumed serve adds (VolumeAPI's OpenStackProtocol hooks, access log off as by default).
        var accessLogger = Logger(label: "volumed.access")
        accessLogger.logLevel = .info
        let hooks = arguments.count >= 5 && arguments[4] == "openstack"
            ? OpenStackProtocol(accessLogger: accessLogger, logLevels: LogLevelRegistry(startLevel: .info)).hooks : nil
        let server = HTTPServer(configuration: configuration, router: router, logger: logger, hooks: hooks)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let sources = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { server.shutdown(gracePeriod: .seconds(2)) }
            source.resume()
            return source
        }
        do {
            try withExtendedLifetime(sources) { try server.run() }
        } catch {
            FileHandle.standardError.write(Data("volumed-http-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    /// This thread's CPU time: other load on the machine does not inflate it, as it does wall time.
    static func threadCPUNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// `--hook-cost`: nanoseconds per request that the OpenStack hooks add on the event loop
    /// (begin: version header, global id, request id; end: the access log's level check), measured
    /// as this thread's CPU time.
    static func hookCost() {
        var accessLogger = Logger(label: "volumed.access")
        accessLogger.logLevel = .info
        // As `volumed serve` sets it up: the access log's level comes from run-time levels.
        let hooks = OpenStackProtocol(accessLogger: accessLogger, logLevels: LogLevelRegistry(startLevel: .info)).hooks
        guard let request = try? HTTPRequest(method: .get, target: "/v3/services",
                                             headers: ["Host": "127.0.0.1:8776", "User-Agent": "wrk", "Accept": "*/*"])
        else { return }
        let count = 2_000_000
        var sink = 0
        for round in 0..<3 {
            let start = threadCPUNanoseconds()
            for _ in 0..<count {
                var copy = request
                let begun = hooks.begin(&copy)
                sink &+= begun.exchangeID?.count ?? 0
                if begun.recordsExchange {
                    hooks.end?(ExchangeRecord(exchangeID: begun.exchangeID, method: .get, target: copy.target,
                                              status: .ok, bodyBytes: 900, durationNanoseconds: 1,
                                              annotation: copy.annotation))
                }
            }
            let perCall = Double(threadCPUNanoseconds() - start) / Double(count)
            print("round \(round + 1): \(String(format: "%.0f", perCall)) ns of CPU per request (begin + end)")
        }
        if sink == 0 { print("") }
    }
}
