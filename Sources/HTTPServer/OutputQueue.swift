// Response bytes not yet sent, and the server-wide budgets that bound what all connections hold.

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A connection's unsent response bytes, as segments written with one `writev`. Heads and small
/// bodies are copied into an owned buffer; a body of `sharedBodyThreshold` bytes or more is kept by
/// reference instead, so a cached body (get_pools for a thousand pools is about 450 KB) is held
/// once however many queued responses carry it.
struct OutputQueue {
    private var segments: [[UInt8]] = []
    /// The first segment not fully sent, and how much of it was.
    private var first = 0
    private var firstOffset = 0
    /// Whether the last segment is an owned buffer that more bytes may be appended to (a shared
    /// body never is: appending would copy it).
    private var lastIsOwned = false
    /// Unsent bytes: what the client has yet to read, counted against the limits.
    private(set) var count = 0
    /// Bytes appended by reference since the queue was made (tests: large bodies are not copied).
    private(set) var sharedBytes = 0

    static let sharedBodyThreshold = 16 * 1024
    /// At most this many segments per `writev` (the kernel's IOV_MAX is 1024).
    static let maxSegmentsPerWrite = 64

    var isEmpty: Bool { count == 0 }

    /// Appends bytes through `body`, which writes into the owned tail buffer.
    mutating func appendOwned<Result>(_ body: (inout [UInt8]) -> Result) -> Result {
        if !lastIsOwned {
            segments.append([])
            lastIsOwned = true
        }
        let last = segments.count - 1
        let before = segments[last].count
        let result = body(&segments[last])
        count += segments[last].count - before
        return result
    }

    /// Appends `bytes` by reference (no copy).
    mutating func appendShared(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        segments.append(bytes)
        lastIsOwned = false
        count += bytes.count
        sharedBytes += bytes.count
    }

    /// Appends one encoded response: the head (and a small body) copied, a large body shared.
    @discardableResult
    mutating func append(
        _ response: HTTPResponse, context: ResponseContext, dateLine: [UInt8], serverLine: [UInt8]
    ) -> HTTPStatus {
        let (status, writesBody) = appendOwned {
            ResponseEncoder.encodeHead(
                response, context: context, dateLine: dateLine, serverLine: serverLine, into: &$0)
        }
        guard writesBody else { return status }
        if response.body.count >= Self.sharedBodyThreshold {
            appendShared(response.body)
        } else {
            appendOwned { $0.append(contentsOf: response.body) }
        }
        return status
    }

    /// Writes as much as the socket takes with one `writev`; returns the bytes written, or -1 with
    /// `errno` set.
    mutating func write(to fd: Int32) -> Int {
        guard count > 0 else { return 0 }
        let segmentCount = min(segments.count - first, Self.maxSegmentsPerWrite)
        let written = withUnsafeTemporaryAllocation(of: iovec.self, capacity: segmentCount) { vectors -> Int in
            for index in 0..<segmentCount {
                let segment = first + index
                let skip = index == 0 ? firstOffset : 0
                // The arrays stay in `segments`, unmodified, until writev returns: their storage
                // cannot move or be freed while the kernel reads it.
                let base = segments[segment].withUnsafeBytes { $0.baseAddress }
                vectors[index] = iovec(
                    iov_base: UnsafeMutableRawPointer(mutating: base.map { $0 + skip }),
                    iov_len: segments[segment].count - skip)
            }
            return Glibc.writev(fd, vectors.baseAddress, Int32(segmentCount))
        }
        if written > 0 { consume(written) }
        return written
    }

    private mutating func consume(_ written: Int) {
        count -= written
        var remaining = written
        while remaining > 0 {
            let left = segments[first].count - firstOffset
            if remaining >= left {
                remaining -= left
                // Sent: let a shared body go now. The first buffer stays for reuse (see removeAll).
                if first > 0 { segments[first] = [] }
                first += 1
                firstOffset = 0
            } else {
                firstOffset += remaining
                remaining = 0
            }
        }
        if count == 0 {
            removeAll(keepingCapacity: true)
        } else if first >= 32 && first * 2 >= segments.count {
            segments.removeFirst(first)
            first = 0
        }
    }

    /// Drops everything; `keepingCapacity` keeps the first buffer (always an owned head buffer) for
    /// reuse by the event loop's scratch queue, unless it grew past 1 MiB.
    mutating func removeAll(keepingCapacity: Bool) {
        count = 0
        first = 0
        firstOffset = 0
        guard keepingCapacity, var buffer = segments.first, buffer.capacity <= 1024 * 1024 else {
            segments = []
            lastIsOwned = false
            return
        }
        segments = []  // `buffer` is now the only reference: clearing it keeps its storage
        buffer.removeAll(keepingCapacity: true)
        segments.append(buffer)
        lastIsOwned = true
    }

    /// Moves everything unsent out into a queue of its own (the scratch queue's leftovers become a
    /// connection's queue) without copying a byte; this queue starts empty.
    mutating func takeUnsent() -> OutputQueue {
        let taken = self
        self = OutputQueue()
        return taken
    }

    /// Appends the unsent bytes of `other` behind these (shared segments by reference).
    mutating func append(_ other: OutputQueue) {
        guard other.count > 0 else { return }
        for index in other.first..<other.segments.count {
            let skip = index == other.first ? other.firstOffset : 0
            if skip > 0 {
                appendOwned { $0.append(contentsOf: other.segments[index][skip...]) }
            } else {
                appendShared(other.segments[index])
            }
        }
        lastIsOwned = false
    }

    /// The unsent bytes, contiguous (tests and the fuzz harness).
    var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        for index in first..<segments.count {
            result.append(contentsOf: segments[index][(index == first ? firstOffset : 0)...])
        }
        return result
    }
}

/// Bytes held across every connection of one server, against a limit shared by all event loops.
/// A connection asks before it holds more; one that is refused waits (output) or is answered 503
/// (request bytes), so the whole process stays within the limit whatever the clients do.
final class MemoryBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)
    private let highWater = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    var current: Int { used.load(ordering: .relaxed) }
    /// The most ever held at once (tests and benchmarks check it against the limit).
    var peak: Int { highWater.load(ordering: .relaxed) }
    var isExhausted: Bool { current >= limit }

    /// Takes `bytes` if they fit under the limit.
    func reserve(_ bytes: Int) -> Bool {
        guard bytes > 0 else { return true }
        var seen = used.load(ordering: .relaxed)
        while true {
            guard seen + bytes <= limit else { return false }
            let (exchanged, original) = used.compareExchange(
                expected: seen, desired: seen + bytes, ordering: .relaxed)
            if exchanged {
                highWater.max(seen + bytes, ordering: .relaxed)
                return true
            }
            seen = original
        }
    }

    /// Takes `bytes` whatever the limit (bytes already produced: the caller stops producing once
    /// the budget is exhausted, so this overshoots by at most one response per event loop).
    func charge(_ bytes: Int) {
        guard bytes > 0 else { return }
        highWater.max(used.add(bytes, ordering: .relaxed).newValue, ordering: .relaxed)
    }

    func release(_ bytes: Int) {
        if bytes > 0 { used.subtract(bytes, ordering: .relaxed) }
    }
}
