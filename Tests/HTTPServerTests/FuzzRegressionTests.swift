// Inputs the libFuzzer harness (scripts/fuzz) found, kept as regression tests of the parser.

import Testing

@testable import HTTPServer

@Suite(.offCooperativePool) struct FuzzRegressionTests {
    private let limits = ParserLimits(maxHeadBytes: 640, maxTargetBytes: 160, maxHeaderCount: 12, maxBodyBytes: 300)

    /// Scans `bytes` the way a connection does: arriving in pieces of `piece` bytes, accumulated,
    /// with one scanner resuming where it stopped. Returns the first verdict that is not `incomplete`.
    private func scan(_ bytes: [UInt8], piece: Int) -> HeadScanner.Result {
        var scanner = HeadScanner()
        var buffer: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + piece)
            buffer += bytes[offset..<end]
            offset = end
            let result = buffer.withUnsafeBufferPointer { scanner.scan($0, limits: limits) }
            if result != .incomplete { return result }
        }
        return .incomplete
    }

    private func status(_ result: HeadScanner.Result) -> Int? {
        if case .failed(let error) = result { return error.status.code }
        return nil
    }

    /// A bare CR exactly at the head limit was 400 when the next byte came in the same read, and 431
    /// when the read ended at the CR (the limit was checked before the CR was judged).
    @Test func bareCRAtTheHeadLimitIsTheSameVerdictHoweverSplit() {
        var head = Array("GET / HTTP/1.1\r\nX: ".utf8)
        head += [UInt8](repeating: UInt8(ascii: "a"), count: limits.maxHeadBytes - head.count)
        head += Array("\rx".utf8)
        #expect(status(scan(head, piece: head.count)) == 400)
        #expect(status(scan(head, piece: 1)) == 400)
        #expect(status(scan(head, piece: limits.maxHeadBytes + 1)) == 400)
    }

    /// The same race on the request-line limit: 400 (bare CR), never 414, however the bytes arrive.
    @Test func bareCRAtTheRequestLineLimitIsTheSameVerdictHoweverSplit() {
        let lineLimit = limits.maxTargetBytes + 32
        var line = Array("GET /".utf8)
        line += [UInt8](repeating: UInt8(ascii: "a"), count: lineLimit - line.count)
        line += Array("\rx".utf8)
        for piece in [line.count, 1, lineLimit + 1, 7] {
            #expect(status(scan(line, piece: piece)) == 400, "piece \(piece)")
        }
    }

    /// A CR that ends a read is not judged yet; the head still completes once its LF arrives.
    @Test func crAtTheEndOfAReadWaitsForItsLF() {
        let head = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        for piece in 1...head.count {
            #expect(scan(head, piece: piece) == .complete(length: head.count), "piece \(piece)")
        }
    }

    /// The input libFuzzer found (scripts/fuzz, with the fix reverted) for the request-line variant,
    /// under the harness's limits: a CR exactly at the request-line limit was 400 whole and 414 when
    /// the bytes came one at a time.
    @Test func fuzzerFoundRequestLineInputIsTheSameVerdictHoweverSplit() {
        let harnessLimits = ParserLimits(maxHeadBytes: 256, maxTargetBytes: 96, maxHeaderCount: 12, maxBodyBytes: 300)
        let input: [UInt8] =
            Array(("P" + String(repeating: "|", count: 18)).utf8) + [0x81]
            + Array((String(repeating: "|", count: 88) + "GET /healthz HTTP/1O\r.0\r\nConnU__\n\r_").utf8)
        #expect(input.count == 143)
        #expect(input[128] == 13)
        for piece in [input.count, 1, 128, 129] {
            var scanner = HeadScanner()
            var buffer: [UInt8] = []
            var offset = 0
            var verdict = HeadScanner.Result.incomplete
            while offset < input.count && verdict == .incomplete {
                let end = min(input.count, offset + piece)
                buffer += input[offset..<end]
                offset = end
                verdict = buffer.withUnsafeBufferPointer { scanner.scan($0, limits: harnessLimits) }
            }
            #expect(status(verdict) == 400, "piece \(piece)")
        }
    }

    /// Found by libFuzzer: a head of exactly `maxHeadBytes + 1` bytes was accepted when its last byte
    /// was the LF that ends it (the limit was checked after every byte but that one).
    @Test func headOneByteOverTheLimitIs431HoweverSplit() {
        func head(length: Int) -> [UInt8] {
            let start = Array("GET / HTTP/1.1\r\nHost: a\r\nX: ".utf8)
            return start + [UInt8](repeating: UInt8(ascii: "v"), count: length - start.count - 4)
                + Array("\r\n\r\n".utf8)
        }
        let fits = head(length: limits.maxHeadBytes)
        let over = head(length: limits.maxHeadBytes + 1)
        for piece in [over.count, 1, limits.maxHeadBytes] {
            #expect(scan(fits, piece: piece) == .complete(length: limits.maxHeadBytes), "piece \(piece)")
            #expect(status(scan(over, piece: piece)) == 431, "piece \(piece)")
        }
    }
}
