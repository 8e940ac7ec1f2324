// What the wiring layer tells the API about the service it fronts.

import Foundation
import Supervision

/// Settings of the REST API, named after the cinder.conf options they come from.
public struct VolumeAPISettings: Sendable, Equatable {
    /// Cinder's `host`: the scheduler's service host, and the prefix of every backend's `host@backend`.
    public var host: String
    /// `storage_availability_zone`, shown as each service's `zone`.
    public var availabilityZone: String
    /// `service_down_time`: a service whose heartbeat is older than this many seconds is `down`.
    public var serviceDownTime: TimeInterval
    /// The admin token state-changing requests must carry in `X-Auth-Token`; nil or empty means
    /// none is configured, and those requests are then accepted from loopback clients only.
    public var adminToken: String?

    public static let defaultAvailabilityZone = "nova"
    public static let defaultServiceDownTime: TimeInterval = 60

    public init(host: String, availabilityZone: String = VolumeAPISettings.defaultAvailabilityZone,
                serviceDownTime: TimeInterval = VolumeAPISettings.defaultServiceDownTime, adminToken: String? = nil) {
        self.host = host
        self.availabilityZone = availabilityZone
        self.serviceDownTime = serviceDownTime
        self.adminToken = adminToken
    }
}
