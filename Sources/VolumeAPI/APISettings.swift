// What the wiring layer tells the API about the service it fronts.

import Foundation
import Supervision

/// Settings of the REST API, named after the cinder.conf options they come from.
package struct VolumeAPISettings: Sendable, Equatable {
    /// Cinder's `host`: the scheduler's service host, and the prefix of every backend's `host@backend`.
    package var host: String
    /// `storage_availability_zone`, shown as each service's `zone`.
    package var availabilityZone: String
    /// `service_down_time`: a service whose heartbeat is older than this many seconds is `down`.
    package var serviceDownTime: TimeInterval
    /// The admin token state-changing requests must carry in `X-Auth-Token`; nil or empty means
    /// none is configured, and those requests are then accepted from loopback clients only.
    package var adminToken: String?
    /// Cinder's `auth_strategy`.
    package var authStrategy: AuthStrategy = .adminToken
    /// Cinder's `public_endpoint`: the base of the version documents' links (else the request's `Host`).
    package var publicEndpoint: String?
    /// The `host:port` the API listens on, for links when a request names no usable `Host`.
    package var listenAddress = "127.0.0.1:8776"

    package static let defaultAvailabilityZone = "nova"
    package static let defaultServiceDownTime: TimeInterval = 60

    package init(
        host: String, availabilityZone: String = VolumeAPISettings.defaultAvailabilityZone,
        serviceDownTime: TimeInterval = VolumeAPISettings.defaultServiceDownTime, adminToken: String? = nil
    ) {
        self.host = host
        self.availabilityZone = availabilityZone
        self.serviceDownTime = serviceDownTime
        self.adminToken = adminToken
    }
}

/// How state-changing requests are authenticated (Cinder's `auth_strategy`).
package enum AuthStrategy: String, Sendable, Equatable {
    /// volumed's own rule: `X-Auth-Token` equal to the admin token, or, with none configured, a
    /// loopback client.
    case adminToken = "admin_token"
    /// Cinder's standalone mode: also any `X-Auth-Token` of the form `user:project` (cinderclient's
    /// and keystoneauth's noauth plugins), from any client: for deployments whose network is the
    /// boundary.
    case noauth
}
