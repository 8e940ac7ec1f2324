// Kept out of main.swift: closures in its top-level code would be @MainActor and trap on Dispatch.

import Dispatch
import Foundation
import HTTPServer
import Logging
import OpenStackHooks

enum BenchServer {
    static func main(_ arguments: [String]) {
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
            ? OpenStackProtocol(accessLogger: accessLogger).hooks : nil
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
}
