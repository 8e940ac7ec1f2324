// Method + path routing with `{name}` segments.

/// Maps method and path to handlers. Build it before the server starts; it is a value, so the server
/// keeps an immutable copy. Literal segments win over `{name}` segments. A path that matches no pattern
/// is answered 404 (`HTTPError.notFound`); a path that matches with the wrong method is answered 405
/// (`HTTPError.methodNotAllowed`) with an `Allow` header. `HEAD` is served by the `GET` handler (the server drops the
/// body) unless a `HEAD` handler is registered. One trailing slash is ignored (`/a/` matches `/a`).
package struct Router: Sendable {
    /// A handler runs on a server event loop: it must not block. Return `HTTPResponse.deferred` to
    /// answer later; throw an `HTTPResponseError` to answer with the response it renders.
    package typealias Handler = @Sendable (HTTPRequest) throws -> HTTPResponse

    struct Route: Sendable {
        let pattern: String
        let handler: Handler
    }

    struct Node: Sendable {
        var literals: [(segment: [UInt8], child: Int)] = []
        var parameter: (name: String, child: Int)?
        /// A handful per path at most, so a linear scan beats hashing the method.
        var routes: [(method: HTTPMethod, route: Route)] = []

        func route(for method: HTTPMethod) -> Route? {
            for entry in routes where entry.method == method { return entry.route }
            return nil
        }
        var pattern: String?
    }

    enum Match {
        case found(Route, Parameters)
        case methodNotAllowed(pattern: String, allow: [HTTPMethod])
        case notFound
    }

    private var nodes: [Node] = [Node()]

    package init() {}

    /// Registers `handler` for `method` on `pattern` (e.g. `/v3/{project_id}/os-services`).
    /// A malformed pattern or a duplicate registration is a programming error and traps.
    package mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        precondition(pattern.hasPrefix("/"), "route pattern must start with '/': \(pattern)")
        var node = 0
        for segment in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            if segment.hasPrefix("{") && segment.hasSuffix("}") {
                let name = String(segment.dropFirst().dropLast())
                precondition(!name.isEmpty, "empty parameter name in route pattern \(pattern)")
                if let existing = nodes[node].parameter {
                    precondition(existing.name == name, "conflicting parameter names in \(pattern)")
                    node = existing.child
                } else {
                    nodes.append(Node())
                    nodes[node].parameter = (name, nodes.count - 1)
                    node = nodes.count - 1
                }
            } else {
                precondition(!segment.contains("{") && !segment.contains("}"), "bad segment in \(pattern)")
                let bytes = Array(segment.utf8)
                if let existing = nodes[node].literals.first(where: { $0.segment == bytes }) {
                    node = existing.child
                } else {
                    nodes.append(Node())
                    nodes[node].literals.append((bytes, nodes.count - 1))
                    node = nodes.count - 1
                }
            }
        }
        precondition(nodes[node].route(for: method) == nil, "duplicate route \(method) \(pattern)")
        nodes[node].routes.append((method, Route(pattern: pattern, handler: handler)))
        nodes[node].pattern = nodes[node].pattern ?? pattern
    }

    package mutating func get(_ pattern: String, _ handler: @escaping Handler) { on(.get, pattern, handler) }
    package mutating func head(_ pattern: String, _ handler: @escaping Handler) { on(.head, pattern, handler) }
    package mutating func post(_ pattern: String, _ handler: @escaping Handler) { on(.post, pattern, handler) }
    package mutating func put(_ pattern: String, _ handler: @escaping Handler) { on(.put, pattern, handler) }
    package mutating func patch(_ pattern: String, _ handler: @escaping Handler) { on(.patch, pattern, handler) }
    package mutating func delete(_ pattern: String, _ handler: @escaping Handler) { on(.delete, pattern, handler) }

    /// Finds the route for `method` and the raw (still percent-encoded) `path`.
    func match(method: HTTPMethod, rawPath: ArraySlice<UInt8>) throws(HTTPError) -> Match {
        var parameters = Parameters()
        guard let node = try find(node: 0, path: rawPath, from: rawPath.startIndex, parameters: &parameters)
        else { return .notFound }
        if let route = nodes[node].route(for: method) ?? (method == .head ? nodes[node].route(for: .get) : nil) {
            return .found(route, parameters)
        }
        var allow = Set(nodes[node].routes.map(\.method))
        if allow.contains(.get) { allow.insert(.head) }
        return .methodNotAllowed(
            pattern: nodes[node].pattern ?? "", allow: allow.sorted { $0.rawValue < $1.rawValue })
    }

    /// Depth-first match of the segments starting at `from`; literals first, then the parameter.
    private func find(
        node: Int, path: ArraySlice<UInt8>, from: Int, parameters: inout Parameters
    ) throws(HTTPError) -> Int? {
        var start = from
        if start < path.endIndex, path[start] == UInt8(ascii: "/") { start += 1 }
        if start >= path.endIndex {
            return nodes[node].routes.isEmpty ? nil : node
        }
        var end = start
        while end < path.endIndex, path[end] != UInt8(ascii: "/") { end += 1 }
        if end == start { return nil }  // an empty segment in the middle ("//")
        let raw = path[start..<end]
        let segment: ArraySlice<UInt8>
        if raw.contains(UInt8(ascii: "%")) {
            segment = Array(try RequestTarget.decodeComponent(raw, plusIsSpace: false).utf8)[...]
        } else {
            segment = raw
        }
        for literal in nodes[node].literals where literal.segment.elementsEqual(segment) {
            if let found = try find(node: literal.child, path: path, from: end, parameters: &parameters) {
                return found
            }
        }
        if let parameter = nodes[node].parameter {
            let count = parameters.count
            parameters.append(name: parameter.name, value: String(decoding: segment, as: UTF8.self))
            if let found = try find(node: parameter.child, path: path, from: end, parameters: &parameters) {
                return found
            }
            parameters.removeLast(parameters.count - count)
        }
        return nil
    }
}

extension Parameters {
    mutating func removeLast(_ count: Int) { items.removeLast(count) }
}
