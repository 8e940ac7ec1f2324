// One line per answered request, written by a thread of its own.

import Foundation
import HTTPServer
import Logging
import Synchronization

/// The access log: one line per request (request id, method, target, status, body bytes,
/// duration) on the `volumed.access` logger at `debug`, off unless an operator turns it on
/// (`--log-level debug`, or `set-log` with prefix `volumed.access`). The event loop only checks
/// the level (when a request begins: while the log is off, the server neither times an exchange nor
/// builds its record) and appends a record to a bounded queue; formatting and the write to stderr happen on
/// the log's own thread, so a slow terminal never holds up a response. When the queue is full
/// (16,384 records), records are dropped and the next line says how many.
final class AccessLog: Sendable {
    static let capacity = 16_384

    private struct Queue {
        var records: [ExchangeRecord] = []
        var dropped = 0
        var writerStarted = false
    }

    private let logger: Logger
    /// The run-time levels behind `logger`, if any: the level is then re-read only after a change.
    private let levels: LogLevelRegistry?
    /// `generation << 1 | enabled` as last read, `UInt64.max` before the first read.
    private let enabledAt = Atomic<UInt64>(.max)
    private let queue = Mutex(Queue())
    private let wake = DispatchSemaphore(value: 0)

    init(logger: Logger, levels: LogLevelRegistry? = nil) {
        self.logger = logger
        self.levels = levels
    }

    /// Whether lines are written: `volumed.access` at debug or below. With a registry, one atomic
    /// load per request while no level changes.
    var isEnabled: Bool {
        guard let levels else { return logger.logLevel <= .debug }
        let generation = levels.generation
        let cached = enabledAt.load(ordering: .relaxed)
        if cached != .max && cached >> 1 == generation { return cached & 1 == 1 }
        let enabled = logger.logLevel <= .debug
        enabledAt.store(generation << 1 | (enabled ? 1 : 0), ordering: .relaxed)
        return enabled
    }

    /// Called on an event loop for every answered exchange.
    func record(_ record: ExchangeRecord) {
        guard isEnabled else { return }
        let startWriter = queue.withLock { queue -> Bool in
            if queue.records.count >= Self.capacity {
                queue.dropped += 1
                return false
            }
            queue.records.append(record)
            defer { queue.writerStarted = true }
            return !queue.writerStarted
        }
        if startWriter {
            Thread.detachNewThread { [self] in
                Thread.current.name = "access-log"
                writeForever()
            }
        }
        wake.signal()
    }

    private func writeForever() {
        while true {
            wake.wait()
            let (records, dropped) = queue.withLock { queue in
                defer {
                    queue.records.removeAll(keepingCapacity: true)
                    queue.dropped = 0
                }
                return (queue.records, queue.dropped)
            }
            if dropped > 0 {
                logger.warning(
                    "access log lines dropped: the log could not keep up", metadata: ["dropped": "\(dropped)"])
            }
            for record in records { write(record) }
        }
    }

    private func write(_ record: ExchangeRecord) {
        var metadata: Logger.Metadata = [
            "status": "\(record.status.code)",
            "bytes": "\(record.bodyBytes)",
            "duration_ms": "\(String(format: "%.3f", Double(record.durationNanoseconds) / 1_000_000))",
            "request_id": "\(record.exchangeID?.description ?? "-")",
        ]
        if let exchange = record.annotation as? OpenStackExchange, let global = exchange.globalRequestID {
            metadata["global_request_id"] = "\(global)"
        }
        logger.debug("\(record.method) \(record.target)", metadata: metadata)
    }
}
