// Encoded views shared by every request until their source changes.

import Foundation
import HTTPServer
import Synchronization

/// One encoded JSON view: the bytes every response shares and an ETag computed from them.
struct EncodedView: Sendable {
    /// The status the view is served with (readyz answers 503 with a body too).
    let status: HTTPStatus
    let body: [UInt8]
    /// A strong entity-tag over the body's bytes, so it changes exactly when the content changes
    /// (a new snapshot version whose view reads the same keeps its tag, and clients their 304s).
    let etag: String

    init(body: [UInt8], status: HTTPStatus = .ok) {
        self.status = status
        self.body = body
        self.etag = EncodedView.entityTag(for: body)
    }

    /// `"<16 hex digits>-<length>"`: 64-bit FNV-1a over the bytes plus their count.
    static func entityTag(for body: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "-" + String(body.count, radix: 16) + "\""
    }

    /// A response carrying this view (the server answers 304 itself when `If-None-Match` matches a 200).
    func response() -> HTTPResponse {
        HTTPResponse(status: status, etag: etag, body: body)
    }
}

/// What a cached view was built from: the source's version, and the clock window in which the
/// clock-dependent parts of it (os-services `state`) stay what they were when it was encoded.
struct ViewValidity: Sendable, Equatable {
    var version: UInt64
    /// The view is valid for `validFrom <= now < validBefore`; `.distantPast`/`.distantFuture`
    /// when the view does not depend on the clock.
    var validFrom: Date = .distantPast
    var validBefore: Date = .distantFuture

    func holds(version: UInt64, at now: Date) -> Bool {
        self.version == version && validFrom <= now && now < validBefore
    }
}

/// Encoded views keyed by view name and canonical query. Each entry remembers what it was built
/// from; a request whose source version (and clock window) still matches gets the stored bytes, so
/// a dashboard polling every second costs a dictionary lookup, not an encode. Bounded: when full,
/// entries of older versions are dropped, and if that frees nothing a new key is served uncached —
/// so a client spraying distinct filters can never evict the views every dashboard shares.
final class ViewCache: Sendable {
    private struct Entry {
        let validity: ViewValidity
        let view: EncodedView
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 512) {
        self.capacity = capacity
    }

    /// The stored view for `key` when it was built from `version` and `now` is inside its window;
    /// otherwise `build()` runs (outside the lock) and its result is stored and returned.
    func view(
        _ key: String, version: UInt64, now: Date, build: () -> (EncodedView, ViewValidity)
    ) -> EncodedView {
        if let entry = entries.withLock({ $0[key] }), entry.validity.holds(version: version, at: now) {
            return entry.view
        }
        let (view, validity) = build()
        entries.withLock { entries in
            if entries.count >= capacity && entries[key] == nil {
                entries = entries.filter { $0.value.validity.version >= validity.version }
                if entries.count >= capacity { return }
            }
            // A slower builder of an older version must not replace a newer entry.
            if let existing = entries[key], existing.validity.version > validity.version { return }
            entries[key] = Entry(validity: validity, view: view)
        }
        return view
    }

    /// Number of stored entries (for tests of the bound).
    var count: Int { entries.withLock { $0.count } }
}
