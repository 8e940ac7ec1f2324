// Cinder's microversions: `OpenStack-API-Version: volume X.Y`, negotiated per request.

import HTTPServer

/// A Block Storage API microversion (`3.49`). Ordered by major, then minor.
package struct APIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    // Two 16-bit numbers (the parser admits at most 6 digits, clamped), so a request's annotation
    // holding a version fits an existential's inline buffer: no allocation per request.
    private let majorBits: UInt16
    private let minorBits: UInt16

    package var major: Int { Int(majorBits) }
    package var minor: Int { Int(minorBits) }

    package init(_ major: Int, _ minor: Int) {
        majorBits = UInt16(clamping: major)
        minorBits = UInt16(clamping: minor)
    }

    /// Cinder's `APIVersionRequest` syntax: `^([1-9]\d*)\.([1-9]\d*|0)$` (no sign, no leading zeros).
    package init?(_ text: some StringProtocol) {
        let parts = Substring(text).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Self.number(parts[0], allowZero: false),
            let minor = Self.number(parts[1], allowZero: true)
        else { return nil }
        self.init(major, minor)
    }

    private static func number(_ digits: Substring, allowZero: Bool) -> Int? {
        guard let first = digits.utf8.first, digits.utf8.count <= 4,
            digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        if first == UInt8(ascii: "0") {
            return allowZero && digits.utf8.count == 1 ? 0 : nil
        }
        return Int(digits)
    }

    package static func < (lhs: APIVersion, rhs: APIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    package var description: String { "\(major).\(minor)" }

    /// The oldest version volumed speaks, and what a request without the header gets.
    package static let minimum = APIVersion(3, 0)
    /// The newest version whose behaviour volumed implements for every endpoint it serves: 3.49 adds
    /// `backend_state` to os-services, the last change Cinder made to os-services, get_pools or log
    /// levels. 3.50 announces volume multiattach, a claim about volumes, which volumed does not host
    /// (README, "Where volumed differs from Cinder").
    package static let maximum = APIVersion(3, 49)

    // The versions at which the endpoints volumed serves changed shape (Cinder's names in
    // cinder/api/microversions.py).
    /// os-services lists each service's `cluster`.
    package static let clusterSupport = APIVersion(3, 7)
    /// `PUT os-services/failover` (replication of a cluster).
    package static let replicationCluster = APIVersion(3, 26)
    /// get_pools honours `name` and capability filters.
    package static let poolFilter = APIVersion(3, 28)
    /// `PUT os-services/set-log` and `get-log`.
    package static let logLevel = APIVersion(3, 32)
    /// get_pools honours `volume_type`.
    package static let poolTypeFilter = APIVersion(3, 35)
    /// os-services lists `backend_state` for volume services.
    package static let backendStateReport = APIVersion(3, 49)
}

/// What a request's `OpenStack-API-Version` header asks for, judged against the versions served.
package enum MicroversionRequest: Sendable, Equatable {
    /// The version to serve (3.0 when the header names no `volume` version).
    case version(APIVersion)
    /// Not `latest` nor `X.Y`: answered 400.
    case malformed(String)
    /// Well-formed but outside `[minimum, maximum]`: answered 406.
    case unsupported(APIVersion)

    /// The service type volumed answers for.
    package static let serviceType = "volume"
    package static let headerName = "OpenStack-API-Version"

    /// Reads every `OpenStack-API-Version` field (comma-separated `service version` pairs, as
    /// microversion-parse folds them): the `volume` entry (service type case-insensitive, the last
    /// one wins) decides; entries for other services are ignored, so `compute 2.1` alone means 3.0.
    package static func parse(
        _ headerValues: [String], minimum: APIVersion = .minimum, maximum: APIVersion = .maximum
    ) -> MicroversionRequest {
        var requested: Substring?
        for value in headerValues {
            for entry in value.split(separator: ",") {
                let words = entry.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard let service = words.first, service.lowercased() == serviceType else { continue }
                requested = words.count == 2 ? words[1] : words.dropFirst().joined(separator: " ")[...]
            }
        }
        guard let requested else { return .version(minimum) }
        if requested == "latest" { return .version(maximum) }
        guard let version = APIVersion(requested) else { return .malformed(String(requested)) }
        guard version >= minimum && version <= maximum else { return .unsupported(version) }
        return .version(version)
    }

    /// The OpenStack fault for a request that cannot be served (nil for `.version`).
    package func fault(minimum: APIVersion = .minimum, maximum: APIVersion = .maximum) -> OpenStackFault? {
        switch self {
        case .version:
            return nil
        case .malformed(let text):
            return .badRequest(
                "API Version String '\(text)' is of invalid format. Must be of format MajorNum.MinorNum or 'latest'.")
        case .unsupported(let version):
            return .notAcceptable(
                "Version \(version) is not supported by the API. Minimum is \(minimum) and maximum is \(maximum).")
        }
    }
}
