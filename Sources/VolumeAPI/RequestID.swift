// OpenStack request ids: `req-<uuid>` on every response, cheap enough for every request.

import HTTPServer
import Synchronization

/// Makes `req-<uuid4>` ids without a system call, a lock or an allocation per id: a process-wide
/// counter run through SipHash-2-4 (128-bit output) under a 128-bit key drawn once from the system's
/// random number generator. SipHash is a keyed pseudorandom function, so without the key the ids
/// reveal nothing of one another (the earlier SplitMix64 finalizer was invertible: one id gave away
/// the keys and so every later id); 128-bit outputs of distinct counters collide with negligible
/// chance (the UUID format fixes 6 bits, 122 vary). The 16 bytes are written as hex straight into
/// an inline `ExchangeID`. Foundation's `UUID().uuidString` costs a `getrandom` call and a `String`
/// of 36 formatted characters per id (BENCHMARKS.md has both figures).
package final class RequestIDGenerator: Sendable {
    private let counter = Atomic<UInt64>(0)
    private let key: (UInt64, UInt64)

    package init() {
        var generator = SystemRandomNumberGenerator()
        key = (generator.next(), generator.next())
    }

    /// A generator with a fixed key and first counter value, for tests of the exact output.
    init(key: (UInt64, UInt64), counter: UInt64) {
        self.key = key
        self.counter.store(counter, ordering: .relaxed)
    }

    /// A fresh `req-xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    package func next() -> ExchangeID {
        let count = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let random = Self.sipHash128(count, key: key)
        // The 16 bytes in the order SipHash outputs them (each half little-endian), as a UUID's
        // bytes; then RFC 9562's version 4 (byte 6) and variant 10 (byte 8).
        let high = random.0.byteSwapped
        let low = random.1.byteSwapped
        return Self.format(high: (high & ~0xF000) | 0x4000, low: (low & ~(0b11 << 62)) | (0b10 << 62))
    }

    /// SipHash-2-4 with a 128-bit output of the 8-byte message `message` (as little-endian bytes),
    /// under `key` (its two halves read as little-endian words): the two output words, first half
    /// first (each to be written little-endian).
    static func sipHash128(_ message: UInt64, key: (UInt64, UInt64)) -> (UInt64, UInt64) {
        var v0: UInt64 = 0x736f_6d65_7073_6575 ^ key.0
        var v1: UInt64 = 0x646f_7261_6e64_6f6d ^ key.1 ^ 0xee
        var v2: UInt64 = 0x6c79_6765_6e65_7261 ^ key.0
        var v3: UInt64 = 0x7465_6462_7974_6573 ^ key.1
        @inline(__always) func rotl(_ word: UInt64, _ bits: UInt64) -> UInt64 { word << bits | word >> (64 - bits) }
        @inline(__always) func round() {
            v0 &+= v1
            v1 = rotl(v1, 13) ^ v0
            v0 = rotl(v0, 32)
            v2 &+= v3
            v3 = rotl(v3, 16) ^ v2
            v0 &+= v3
            v3 = rotl(v3, 21) ^ v0
            v2 &+= v1
            v1 = rotl(v1, 17) ^ v2
            v2 = rotl(v2, 32)
        }
        @inline(__always) func compress(_ block: UInt64) {
            v3 ^= block
            round()
            round()
            v0 ^= block
        }
        compress(message)
        // The final block: the message length (8) in the top byte, no bytes left over.
        compress(8 << 56)
        v2 ^= 0xee
        round()
        round()
        round()
        round()
        let first = v0 ^ v1 ^ v2 ^ v3
        v1 ^= 0xdd
        round()
        round()
        round()
        round()
        return (first, v0 ^ v1 ^ v2 ^ v3)
    }

    /// `req-` and the 128 bits (`high` first, most significant nibble first) as 8-4-4-4-12
    /// lower-case hex.
    static func format(high: UInt64, low: UInt64) -> ExchangeID {
        ExchangeID { buffer in
            buffer.storeBytes(of: UInt32(0x7265_712d).bigEndian, toByteOffset: 0, as: UInt32.self)  // "req-"
            buffer.storeBytes(of: hex8(UInt32(truncatingIfNeeded: high >> 32)), toByteOffset: 4, as: UInt64.self)
            buffer[12] = UInt8(ascii: "-")
            buffer.storeBytes(of: hex4(UInt16(truncatingIfNeeded: high >> 16)), toByteOffset: 13, as: UInt32.self)
            buffer[17] = UInt8(ascii: "-")
            buffer.storeBytes(of: hex4(UInt16(truncatingIfNeeded: high)), toByteOffset: 18, as: UInt32.self)
            buffer[22] = UInt8(ascii: "-")
            buffer.storeBytes(of: hex4(UInt16(truncatingIfNeeded: low >> 48)), toByteOffset: 23, as: UInt32.self)
            buffer[27] = UInt8(ascii: "-")
            buffer.storeBytes(of: hex8(UInt32(truncatingIfNeeded: low >> 16)), toByteOffset: 28, as: UInt64.self)
            buffer.storeBytes(of: hex4(UInt16(truncatingIfNeeded: low)), toByteOffset: 36, as: UInt32.self)
            return 40
        }
    }

    /// The 8 lower-case hex digits of `value`, most significant first, as a word whose bytes in
    /// memory are the digits in order. No table and no branch: each nibble is spread into a byte
    /// of its own, then `0`...`9` or `a`...`f` is made of all eight bytes at once.
    @inline(__always)
    static func hex8(_ value: UInt32) -> UInt64 {
        var x = UInt64(value)
        x = (x | x << 16) & 0x0000_FFFF_0000_FFFF
        x = (x | x << 8) & 0x00FF_00FF_00FF_00FF
        x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F
        // A nibble above 9 carries into bit 4 when 6 is added: those bytes get 0x27 more ("a" - "9" - 1).
        let letters = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return (x &+ 0x3030_3030_3030_3030 &+ letters &* 0x27).bigEndian
    }

    /// The 4 lower-case hex digits of `value`, as `hex8` makes 8.
    @inline(__always)
    static func hex4(_ value: UInt16) -> UInt32 {
        var x = UInt32(value)
        x = (x | x << 8) & 0x00FF_00FF
        x = (x | x << 4) & 0x0F0F_0F0F
        let letters = ((x &+ 0x0606_0606) >> 4) & 0x0101_0101
        return (x &+ 0x3030_3030 &+ letters &* 0x27).bigEndian
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
