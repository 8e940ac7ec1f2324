// Request bodies: Content-Length and chunked (RFC 9112 7.1), as an explicit byte state machine.

/// Collects one request body across reads. Chunk sizes, extensions and trailers are checked as strictly
/// as the head: CRLF only, hex sizes of at most 15 digits, trailers parsed like header fields (and then
/// dropped), the whole body bounded by `maxBodyBytes` and the trailer section by `maxHeadBytes`.
struct BodyReader {
    private enum State {
        case fixed(remaining: Int)
        case chunkSize(value: Int, digits: Int)
        case chunkExtension(length: Int)
        case chunkSizeLF(value: Int)
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailerLine
        case trailerLF
        case done
    }

    private var state: State
    private var trailerLine: [UInt8] = []
    private var trailerBytes = 0
    private let limits: ParserLimits
    private(set) var body: [UInt8] = []

    static let maxChunkExtensionBytes = 4096

    init(framing: BodyFraming, limits: ParserLimits) {
        self.limits = limits
        switch framing {
        case .none:
            state = .done
        case .contentLength(let length):
            state = .fixed(remaining: length)
            body.reserveCapacity(min(length, limits.maxBodyBytes))
        case .chunked:
            state = .chunkSize(value: 0, digits: 0)
        }
    }

    var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes what it can of `bytes`; returns how many bytes belonged to the body.
    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPError) -> Int {
        var index = 0
        let count = bytes.count
        while index < count {
            switch state {
            case .done:
                return index
            case .fixed(let remaining):
                let take = min(remaining, count - index)
                body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                state = remaining == take ? .done : .fixed(remaining: remaining - take)
            case .chunkSize(let value, let digits):
                let byte = bytes[index]
                index += 1
                if let digit = RequestTarget.hexValue(byte) {
                    guard digits < 15 else { throw .badRequest("Chunk size too long.") }
                    state = .chunkSize(value: value << 4 | Int(digit), digits: digits + 1)
                } else if digits > 0 && (byte == UInt8(ascii: ";") || byte == 32 || byte == 9) {
                    state = .chunkExtension(length: 1)
                    pendingChunkSize = value
                } else if digits > 0 && byte == 13 {
                    state = .chunkSizeLF(value: value)
                } else {
                    throw .badRequest("Invalid chunk size.")
                }
            case .chunkExtension(let length):
                let byte = bytes[index]
                index += 1
                if byte == 13 {
                    state = .chunkSizeLF(value: pendingChunkSize)
                } else {
                    guard byte >= 32 && byte != 127 || byte == 9 else {
                        throw .badRequest("Control byte in a chunk extension.")
                    }
                    guard length < Self.maxChunkExtensionBytes else {
                        throw .badRequest("Chunk extension too long.")
                    }
                    state = .chunkExtension(length: length + 1)
                }
            case .chunkSizeLF(let value):
                guard bytes[index] == 10 else { throw .badRequest("Chunk size line must end in CRLF.") }
                index += 1
                if value == 0 {
                    state = .trailerLine
                } else {
                    guard value <= limits.maxBodyBytes - body.count else {
                        throw .contentTooLarge("The request body exceeds \(limits.maxBodyBytes) bytes.")
                    }
                    state = .chunkData(remaining: value)
                }
            case .chunkData(let remaining):
                let take = min(remaining, count - index)
                body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                state = remaining == take ? .chunkDataCR : .chunkData(remaining: remaining - take)
            case .chunkDataCR:
                guard bytes[index] == 13 else { throw .badRequest("Chunk data must end in CRLF.") }
                index += 1
                state = .chunkDataLF
            case .chunkDataLF:
                guard bytes[index] == 10 else { throw .badRequest("Chunk data must end in CRLF.") }
                index += 1
                state = .chunkSize(value: 0, digits: 0)
            case .trailerLine:
                let byte = bytes[index]
                index += 1
                trailerBytes += 1
                guard trailerBytes <= limits.maxHeadBytes else {
                    throw .requestHeaderFieldsTooLarge("The trailer section exceeds \(limits.maxHeadBytes) bytes.")
                }
                if byte == 13 {
                    state = .trailerLF
                } else if byte == 10 || byte == 0 {
                    throw .badRequest("Bare LF or NUL in the trailer section.")
                } else {
                    trailerLine.append(byte)
                }
            case .trailerLF:
                guard bytes[index] == 10 else { throw .badRequest("Bare CR in the trailer section.") }
                index += 1
                if trailerLine.isEmpty {
                    state = .done
                } else {
                    try Self.validateTrailerField(trailerLine)
                    trailerLine.removeAll(keepingCapacity: true)
                    state = .trailerLine
                }
            }
        }
        return index
    }

    private var pendingChunkSize = 0

    /// A trailer field has the syntax of a header field; its value is not used.
    private static func validateTrailerField(_ line: [UInt8]) throws(HTTPError) {
        var colon = 0
        while colon < line.count && isTokenByte(line[colon]) { colon += 1 }
        guard colon > 0, colon < line.count, line[colon] == UInt8(ascii: ":") else {
            throw .badRequest("Malformed trailer field.")
        }
        for byte in line[(colon + 1)...] where !(byte >= 32 && byte != 127 || byte == 9) {
            throw .badRequest("Control byte in a trailer field.")
        }
    }

    /// Hands the collected body over, leaving the reader empty.
    mutating func takeBody() -> [UInt8] {
        defer { body = [] }
        return body
    }
}
