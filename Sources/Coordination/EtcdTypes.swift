/// One key as etcd stores it. Keys are text here (every key volumed writes is UTF-8); values are bytes.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    /// Writes since the key was created (1 after the first put).
    public var version: Int64
    /// The lease the key is bound to, 0 for none.
    public var lease: Int64

    public init(
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
public struct EtcdLease: Sendable, Equatable {
    public var id: Int64
    /// Seconds left (as granted, or as refreshed by a keep-alive).
    public var ttl: Int64

    public init(id: Int64, ttl: Int64) {
        self.id = id
        self.ttl = ttl
    }
}

/// The keys a read returned, at the store's revision when it was read.
public struct EtcdRange: Sendable, Equatable {
    public var revision: Int64
    public var keyValues: [EtcdKeyValue]
    /// Keys in the range (more than `keyValues.count` when a limit cut the answer).
    public var count: Int64
    public var more: Bool

    public init(revision: Int64, keyValues: [EtcdKeyValue], count: Int64, more: Bool) {
        self.revision = revision
        self.keyValues = keyValues
        self.count = count
        self.more = more
    }
}

/// Which keys a call touches: one key, or every key starting with a prefix.
public enum EtcdKeys: Sendable, Equatable {
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
public struct EtcdCompare: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// Writes since creation; 0 means "the key does not exist".
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    public enum Relation: String, Sendable, Equatable {
        case equal = "EQUAL"
        case notEqual = "NOT_EQUAL"
        case greater = "GREATER"
        case less = "LESS"
    }

    public var key: String
    public var relation: Relation
    public var target: Target

    public init(key: String, _ relation: Relation, _ target: Target) {
        self.key = key
        self.relation = relation
        self.target = target
    }

    /// True when `key` does not exist.
    public static func absent(_ key: String) -> EtcdCompare { EtcdCompare(key: key, .equal, .version(0)) }
}

/// One operation inside a transaction.
public enum EtcdOperation: Sendable, Equatable {
    case put(key: String, value: [UInt8], lease: Int64)
    case delete(EtcdKeys)
    case range(EtcdKeys)
}

/// What one operation of a transaction returned.
public enum EtcdOperationResult: Sendable, Equatable {
    case put
    case delete(deleted: Int64)
    case range(EtcdRange)
}

/// The outcome of a transaction: which branch ran, and its operations' results in order.
public struct EtcdTransactionResult: Sendable, Equatable {
    /// Every compare held, so the success operations ran.
    public var succeeded: Bool
    public var revision: Int64
    public var results: [EtcdOperationResult]

    public init(succeeded: Bool, revision: Int64, results: [EtcdOperationResult]) {
        self.succeeded = succeeded
        self.revision = revision
        self.results = results
    }
}

/// A change the watch saw.
public enum EtcdEvent: Sendable, Equatable {
    case put(EtcdKeyValue)
    /// The key was deleted (or its lease expired) at `modRevision`.
    case delete(key: String, modRevision: Int64)

    public var key: String {
        switch self {
        case .put(let keyValue): keyValue.key
        case .delete(let key, _): key
        }
    }

    public var modRevision: Int64 {
        switch self {
        case .put(let keyValue): keyValue.modRevision
        case .delete(_, let revision): revision
        }
    }
}
