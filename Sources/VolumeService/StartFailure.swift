import Foundation
import HTTPServer

/// Why the service cannot start although its configuration is valid; `volumed serve` exits 1 with
/// this text.
package enum StartFailure: Error, CustomStringConvertible {
    /// The state file or its directory cannot be used (read, created or written).
    case stateUnusable(any Error)
    /// No etcd client can be made from `[coordination] backend_url` and its TLS files.
    case coordinationUnusable(any Error)

    package var description: String {
        switch self {
        case .stateUnusable(let error): "\(error)"
        case .coordinationUnusable(let error): "[coordination] backend_url: \(error)"
        }
    }

    /// A start-up error as an operator should read it: a port that is taken or forbidden names the
    /// option that moves it (`portOption`), instead of a bare errno.
    package static func explain(_ error: any Error, portOption: String) -> String {
        if case .cannotResolve? = error as? HTTPServerError, portOption.hasSuffix("_port") {
            return "\(error); fix \(portOption.dropLast(5)) or this machine's resolver (/etc/hosts, DNS)"
        }
        if case .cannotListen(let address, let code)? = error as? HTTPServerError {
            switch code {
            case EADDRINUSE:
                return "\(address) is already in use by another process (another volumed?); "
                    + "stop it or choose another port with \(portOption)"
            case EACCES:
                return "cannot listen on \(address): permission denied (ports below 1024 need root or "
                    + "CAP_NET_BIND_SERVICE); choose another port with \(portOption)"
            case EADDRNOTAVAIL:
                return
                    "cannot listen on \(address): no interface of this machine has that address; fix the listen address"
            default:
                break
            }
        }
        return "\(error)"
    }
}
