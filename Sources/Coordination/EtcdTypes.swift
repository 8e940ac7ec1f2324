/// One key as etcd stores it. Keys are text here (every key volumed writes is UTF-8); values are bytes.
package struct EtcdKeyValue: Sendable, Equatable {
    package var key: String
    package var value: [UInt8]
    package var createRevision: Int64
    package var modRevision: Int64
    /// Writes since the key was created (1 after the first put).
    package var version: Int64
    /// The lease the key is bound to, 0 for none.
    package var lease: Int64

    package init(
        key: String, value: [UInt8], createRevision: Int64 = 0, modRevision: Int64 = 0, version: Int64 = 0,
        lease: Int64 = 0
    ) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// A granted lease: keys put with its ID vanish when it is not kept alive for `ttl` seconds.
package struct EtcdLease: Sendable, Equatable {
    package var id: Int64
    /// Seconds left (as granted, or as refreshed by a keep-alive).
    package var ttl: Int64

    package init(id: Int64, ttl: Int64) {
        self.id = id
        self.ttl = ttl
    }
}

/// The keys a read returned, at the store's revision when it was read.
package struct EtcdRange: Sendable, Equatable {
    package var revision: Int64
    package var keyValues: [EtcdKeyValue]
    /// Keys in the range (more than `keyValues.count` when a limit cut the answer).
    package var count: Int64
    package var more: Bool

    package init(revision: Int64, keyValues: [EtcdKeyValue], count: Int64, more: Bool) {
        self.revision = revision
        self.keyValues = keyValues
        self.count = count
        self.more = more
    }
}

/// Which keys a call touches: one key, or every key starting with a prefix.
package enum EtcdKeys: Sendable, Equatable {
    case key(String)
    case prefix(String)

    /// etcd's `key` and `range_end`: a prefix ends before the prefix with its last byte incremented
    /// (trailing 0xff bytes dropped first; an empty or all-0xff prefix means "every key", `\0`).
    var bounds: (key: [UInt8], rangeEnd: [UInt8]?) {
        switch self {
        case .key(let key):
            return (Array(key.utf8), nil)
        case .prefix(let prefix):
            var end = Array(prefix.utf8)
            while let last = end.last, last == 0xFF { end.removeLast() }
            guard !end.isEmpty else { return (Array(prefix.utf8).isEmpty ? [0] : Array(prefix.utf8), [0]) }
            end[end.count - 1] += 1
            return (Array(prefix.utf8), end)
        }
    }
}

/// A condition of a transaction, on one key.
package struct EtcdCompare: Sendable, Equatable {
    package enum Target: Sendable, Equatable {
        /// Writes since creation; 0 means "the key does not exist".
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    package enum Relation: String, Sendable, Equatable {
        case equal = "EQUAL"
        case notEqual = "NOT_EQUAL"
        case greater = "GREATER"
        case less = "LESS"
    }

    package var key: String
    package var relation: Relation
    package var target: Target

    package init(key: String, _ relation: Relation, _ target: Target) {
        self.key = key
        self.relation = relation
        self.target = target
    }

    /// True when `key` does not exist.
    package static func absent(_ key: String) -> EtcdCompare { EtcdCompare(key: key, .equal, .version(0)) }
}

/// One operation inside a transaction.
package enum EtcdOperation: Sendable, Equatable {
    case put(key: String, value: [UInt8], lease: Int64)
    case delete(EtcdKeys)
    case range(EtcdKeys)
}

/// What one operation of a transaction returned.
package enum EtcdOperationResult: Sendable, Equatable {
    case put
    case delete(deleted: Int64)
    case range(EtcdRange)
}

/// The outcome of a transaction: which branch ran, and its operations' results in order.
package struct EtcdTransactionResult: Sendable, Equatable {
    /// Every compare held, so the success operations ran.
    package var succeeded: Bool
    package var revision: Int64
    package var results: [EtcdOperationResult]

    package init(succeeded: Bool, revision: Int64, results: [EtcdOperationResult]) {
        self.succeeded = succeeded
        self.revision = revision
        self.results = results
    }
}

/// A change the watch saw.
package enum EtcdEvent: Sendable, Equatable {
    case put(EtcdKeyValue)
    /// The key was deleted (or its lease expired) at `modRevision`.
    case delete(key: String, modRevision: Int64)

    package var key: String {
        switch self {
        case .put(let keyValue): keyValue.key
        case .delete(let key, _): key
        }
    }

    package var modRevision: Int64 {
        switch self {
        case .put(let keyValue): keyValue.modRevision
        case .delete(_, let revision): revision
        }
    }
}
