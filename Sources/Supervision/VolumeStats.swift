/// A capacity as Cinder reports it: a number of GiB, or one of the words a driver may use when it
/// cannot tell (`"unknown"`) or has no limit (`"infinite"`).
package enum Capacity: Sendable, Equatable, Codable, CustomStringConvertible {
    case gib(Double)
    case unknown
    case infinite

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            self = .gib(number)
            return
        }
        switch try container.decode(String.self) {
        case "unknown": self = .unknown
        case "infinite": self = .infinite
        case let other:
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "capacity must be a number, \"unknown\" or \"infinite\", got \"\(other)\"")
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .gib(let value): try container.encode(value)
        case .unknown: try container.encode("unknown")
        case .infinite: try container.encode("infinite")
        }
    }

    package var description: String {
        switch self {
        case .gib(let value): return String(value)
        case .unknown: return "unknown"
        case .infinite: return "infinite"
        }
    }
}

/// One pool of a backend (`host@backend#pool`), with its own capacities.
package struct PoolStats: Sendable, Equatable, Codable {
    package var poolName: String
    package var totalCapacityGB: Capacity
    package var freeCapacityGB: Capacity
    package var reservedPercentage: Int
    package var thinProvisioningSupport: Bool
    package var thickProvisioningSupport: Bool
    package var maxOverSubscriptionRatio: Double
    package var qosSupport: Bool
    package var multiattach: Bool

    package init(
        poolName: String, totalCapacityGB: Capacity, freeCapacityGB: Capacity, reservedPercentage: Int = 0,
        thinProvisioningSupport: Bool = false, thickProvisioningSupport: Bool = true,
        maxOverSubscriptionRatio: Double = 1.0, qosSupport: Bool = false, multiattach: Bool = false
    ) {
        self.poolName = poolName
        self.totalCapacityGB = totalCapacityGB
        self.freeCapacityGB = freeCapacityGB
        self.reservedPercentage = reservedPercentage
        self.thinProvisioningSupport = thinProvisioningSupport
        self.thickProvisioningSupport = thickProvisioningSupport
        self.maxOverSubscriptionRatio = maxOverSubscriptionRatio
        self.qosSupport = qosSupport
        self.multiattach = multiattach
    }

    enum CodingKeys: String, CodingKey {
        case poolName = "pool_name"
        case totalCapacityGB = "total_capacity_gb"
        case freeCapacityGB = "free_capacity_gb"
        case reservedPercentage = "reserved_percentage"
        case thinProvisioningSupport = "thin_provisioning_support"
        case thickProvisioningSupport = "thick_provisioning_support"
        case maxOverSubscriptionRatio = "max_over_subscription_ratio"
        case qosSupport = "QoS_support"
        case multiattach
    }
}

/// A backend's capabilities as `get_volume_stats` returns them in Cinder; encodes to the same keys,
/// so the scheduler and dashboards see Cinder's capability names.
package struct VolumeStats: Sendable, Equatable, Codable {
    package var volumeBackendName: String
    package var vendorName: String
    package var driverVersion: String
    package var storageProtocol: String
    package var totalCapacityGB: Capacity
    package var freeCapacityGB: Capacity
    package var reservedPercentage: Int
    package var pools: [PoolStats]

    package init(
        volumeBackendName: String, vendorName: String, driverVersion: String, storageProtocol: String,
        totalCapacityGB: Capacity, freeCapacityGB: Capacity, reservedPercentage: Int = 0, pools: [PoolStats] = []
    ) {
        self.volumeBackendName = volumeBackendName
        self.vendorName = vendorName
        self.driverVersion = driverVersion
        self.storageProtocol = storageProtocol
        self.totalCapacityGB = totalCapacityGB
        self.freeCapacityGB = freeCapacityGB
        self.reservedPercentage = reservedPercentage
        self.pools = pools
    }

    enum CodingKeys: String, CodingKey {
        case volumeBackendName = "volume_backend_name"
        case vendorName = "vendor_name"
        case driverVersion = "driver_version"
        case storageProtocol = "storage_protocol"
        case totalCapacityGB = "total_capacity_gb"
        case freeCapacityGB = "free_capacity_gb"
        case reservedPercentage = "reserved_percentage"
        case pools
    }
}
