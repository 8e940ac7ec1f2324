// OpenStack request ids: `req-<uuid>` on every response, cheap enough for every request.

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Makes `req-<uuid4>` ids without a system call or a lock per id: a process-wide counter run
/// through SplitMix64 under two random keys drawn once at start. SplitMix64's finalizer is a
/// bijection of 64 bits, so ids never repeat within a process (the version and variant bits the
/// UUID format fixes leave 122 varying ones); the keys make them unpredictable across processes.
/// Foundation's `UUID().uuidString` costs a `getrandom` call and a `String` of 36 formatted
/// characters per id (BENCHMARKS.md has both figures).
package final class RequestIDGenerator: Sendable {
    private let counter = Atomic<UInt64>(0)
    private let keys: (UInt64, UInt64)

    package init() {
        var generator = SystemRandomNumberGenerator()
        keys = (generator.next(), generator.next())
    }

    /// A fresh `req-xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    package func next() -> String {
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let high = Self.mix(count ^ keys.0)
        let low = Self.mix(count &+ keys.1)
        return Self.format(high: (high & ~0xF000) | 0x4000, low: (low & ~(0b11 << 62)) | (0b10 << 62))
    }

    /// SplitMix64's output function (Steele, Lea, Flood 2014).
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `req-` and the 128 bits as 8-4-4-4-12 lower-case hex.
    static func format(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 40) { buffer in
            buffer[0] = UInt8(ascii: "r")
            buffer[1] = UInt8(ascii: "e")
            buffer[2] = UInt8(ascii: "q")
            buffer[3] = UInt8(ascii: "-")
            var position = 4
            hexDigits.withUnsafeBufferPointer { hex in
                for nibble in 0..<32 {
                    if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                        buffer[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    let word = nibble < 16 ? high : low
                    let shift = UInt64(60 - 4 * (nibble % 16))
                    buffer[position] = hex[Int((word >> shift) & 0xF)]
                    position += 1
                }
            }
            return position
        }
    }

    /// Whether `text` is a request id a client may pass as its global id (`req-` and a lower- or
    /// upper-case UUID), as oslo.middleware's request_id accepts it.
    package static func isValid(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count == 40, text.hasPrefix("req-") else { return false }
        for (index, byte) in bytes.enumerated().dropFirst(4) {
            let offset = index - 4
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                if byte != UInt8(ascii: "-") { return false }
            } else if !(byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
                || byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")
                || byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
            {
                return false
            }
        }
        return true
    }
}
