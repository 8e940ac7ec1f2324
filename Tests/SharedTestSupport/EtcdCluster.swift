import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real etcd cluster on loopback for one test: Debian's `etcd` binary (package `etcd-server`,
/// installed by `scripts/setup --test`), one process per member, each with its own free ports and a
/// temporary data directory. Members are stopped by PID, never by name; `stop()` (or deinit) ends
/// every member this cluster started and removes its directories.
package final class EtcdCluster: @unchecked Sendable {
    /// One member: its ports stay fixed across restarts, so the cluster's peer list stays true.
    package struct Member: Sendable {
        package let name: String
        package let clientPort: Int
        package let peerPort: Int
        package let dataDirectory: String
        /// With TLS, the member's second client port, served over https with client certificates
        /// required (the plain `clientPort` stays for the fixture's own checks).
        package let tlsClientPort: Int?

        /// `http://127.0.0.1:PORT`: the member's client URL (the JSON gateway lives under it).
        package var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
        var clientURLs: String {
            clientURL + (tlsClientPort.map { ",https://127.0.0.1:\($0)" } ?? "")
        }
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and a second,
    /// unrelated CA (for a client that trusts the wrong one), made with `openssl` for one test.
    package struct TLSMaterial: Sendable {
        package let caFile: String
        package let serverCertificate: String
        package let serverKey: String
        package let clientCertificate: String
        package let clientKey: String
        package let otherCAFile: String

        /// Writes the files into `directory` (P-256 keys, valid for a day).
        package static func generate(in directory: String) throws -> TLSMaterial {
            let openssl = try ExternalTool("openssl", package: "openssl")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            func run(_ arguments: [String]) throws {
                let result = try openssl.run(arguments, directory: directory)
                guard result.status == 0 else {
                    throw StartError(description: "openssl \(arguments.first ?? "") failed: \(result.stderr)")
                }
            }
            let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            for ca in ["ca", "other-ca"] {
                try run(
                    ["req", "-x509"] + key + [
                        "-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "1", "-subj", "/CN=volumed test \(ca)",
                    ])
            }
            let uses = [
                "server": "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
                "client": "extendedKeyUsage=clientAuth\n",
            ]
            for (name, extensions) in uses {
                try extensions.write(toFile: "\(directory)/\(name).ext", atomically: true, encoding: .utf8)
                try run(
                    ["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=volumed-\(name)"])
                try run([
                    "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", "\(name).pem", "-days", "1", "-extfile", "\(name).ext",
                ])
            }
            return TLSMaterial(
                caFile: "\(directory)/ca.pem", serverCertificate: "\(directory)/server.pem",
                serverKey: "\(directory)/server.key", clientCertificate: "\(directory)/client.pem",
                clientKey: "\(directory)/client.key", otherCAFile: "\(directory)/other-ca.pem")
        }
    }

    package struct StartError: Error, CustomStringConvertible {
        package let description: String
    }

    /// Where Debian installs etcd; the suite fails loudly (never skips) when it is missing.
    package static let executable = "/usr/bin/etcd"

    /// Fixed once `init` returns.
    package private(set) var members: [Member] = []
    private var root = ""
    private let lock = NSLock()
    private var processes: [Process?] = []
    /// Set: every member also serves https on `tlsClientPort`, requiring client certificates.
    package let tls: TLSMaterial?

    /// Starts `size` members and waits until the cluster has a leader and takes writes. Retries with
    /// new ports when a member lost the race for a port it was given. With `tls`, each member also
    /// serves its clients over https with the server certificate and requires a client certificate
    /// signed by the CA.
    package init(size: Int = 3, tls: TLSMaterial? = nil) throws {
        self.tls = tls
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw StartError(
                description: "\(Self.executable) is missing: run scripts/setup --test (installs etcd-server)")
        }
        var lastError = StartError(description: "etcd cluster did not start")
        for _ in 0..<3 {
            let root = NSTemporaryDirectory() + "volumed-etcd-" + UUID().uuidString
            var members: [Member] = []
            for index in 1...size {
                guard let client = Loopback.reservePort(), let peer = Loopback.reservePort(),
                    let secure = Loopback.reservePort()
                else {
                    throw StartError(description: "no free loopback port")
                }
                members.append(
                    Member(
                        name: "e\(index)", clientPort: client, peerPort: peer, dataDirectory: "\(root)/e\(index)",
                        tlsClientPort: tls == nil ? nil : secure))
            }
            self.members = members
            self.root = root
            self.processes = Array(repeating: nil, count: size)
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                for index in members.indices { try start(index) }
                guard waitUntil(seconds: 30, { self.acceptsWrites(through: members[0]) }) else {
                    throw StartError(description: "etcd cluster took no write within 30 s; logs in \(root)")
                }
                return
            } catch let error as StartError {
                lastError = error
                stopAll(removeFiles: true)
            }
        }
        throw lastError
    }

    deinit { stopAll(removeFiles: true) }

    /// The client URLs of every member, for a client configuration.
    package var clientURLs: [String] { members.map(\.clientURL) }

    /// Cinder's spelling of the cluster: `etcd3+http://127.0.0.1:P1,127.0.0.1:P2,...`.
    package var backendURL: String {
        "etcd3+http://" + members.map { "127.0.0.1:\($0.clientPort)" }.joined(separator: ",")
    }

    /// `etcd3+https://` to every member's https port, with tooz's options for the CA (`caFile`,
    /// the right one unless given) and, unless `clientCertificate` is false, the client certificate.
    package func tlsBackendURL(caFile: String? = nil, clientCertificate: Bool = true) -> String {
        guard let tls else { return backendURL }
        var query = ["ca_cert=\(caFile ?? tls.caFile)"]
        if clientCertificate { query += ["cert_cert=\(tls.clientCertificate)", "cert_key=\(tls.clientKey)"] }
        return "etcd3+https://"
            + members.compactMap { $0.tlsClientPort.map { "127.0.0.1:\($0)" } }.joined(separator: ",") + "?"
            + query.joined(separator: "&")
    }

    /// The PID of a running member, nil when it is stopped.
    package func pid(of index: Int) -> Int32? {
        lock.withLock { processes[index].map(\.processIdentifier) }
    }

    /// Ends member `index` with SIGKILL (a crash: no goodbye to its peers) and reaps it.
    package func kill(_ index: Int) {
        let process: Process? = lock.withLock {
            let process = processes[index]
            processes[index] = nil
            return process
        }
        guard let process else { return }
        killAndReap(process)
    }

    /// Freezes member `index` with SIGSTOP: a hung member, whose sockets still accept connections
    /// and hold them open without a word. `resume` (or `kill`) ends the hang.
    package func pause(_ index: Int) {
        if let pid = pid(of: index) { Glibc.kill(pid, SIGSTOP) }
    }

    /// Lets a paused member run again (SIGCONT).
    package func resume(_ index: Int) {
        if let pid = pid(of: index) { Glibc.kill(pid, SIGCONT) }
    }

    /// Starts member `index` again on its own ports and data directory (it rejoins with its state).
    package func restart(_ index: Int) throws {
        kill(index)
        try start(index)
        guard waitUntil(seconds: 30, { Loopback.isListening(port: self.members[index].clientPort) }) else {
            throw StartError(description: "member \(members[index].name) did not listen again within 30 s")
        }
    }

    /// True when a linearizable write through `member` succeeds: the cluster has a leader and quorum.
    package func acceptsWrites(through member: Member) -> Bool {
        let body = #"{"key":"X19maXh0dXJlX18=","value":"b2s="}"#
        guard let answer = Self.post(port: member.clientPort, path: "/v3/kv/put", body: body) else { return false }
        return answer.status == 200 && answer.text.contains(#""revision""#)
    }

    /// The index of the member that leads now, nil when no running member names a leader it knows.
    package func leaderIndex() -> Int? {
        for index in members.indices where pid(of: index) != nil {
            guard let answer = Self.post(port: members[index].clientPort, path: "/v3/maintenance/status", body: "{}"),
                let leader = Self.field("leader", in: answer.text), leader != "0"
            else { continue }
            for candidate in members.indices where pid(of: candidate) != nil {
                if let status = Self.post(
                    port: members[candidate].clientPort, path: "/v3/maintenance/status", body: "{}"),
                    Self.field("member_id", in: status.text) == leader
                {
                    return candidate
                }
            }
        }
        return nil
    }

    /// The string value of `"name":"..."` in a raw answer.
    static func field(_ name: String, in text: String) -> String? {
        guard let start = text.range(of: "\"\(name)\":\"") else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    /// Ends every member and removes the data directories.
    package func stop() { stopAll(removeFiles: true) }

    private func start(_ index: Int) throws {
        let member = members[index]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        let cluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        process.arguments = [
            "--name", member.name,
            "--data-dir", member.dataDirectory,
            "--listen-client-urls", member.clientURLs,
            "--advertise-client-urls", member.clientURLs,
            "--listen-peer-urls", member.peerURL,
            "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", URL(fileURLWithPath: root).lastPathComponent,
            "--log-level", "warn",
        ]
        if let tls {
            process.arguments! += [
                "--cert-file", tls.serverCertificate, "--key-file", tls.serverKey,
                "--trusted-ca-file", tls.caFile, "--client-cert-auth",
            ]
        }
        let logPath = "\(root)/\(member.name).log"
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw StartError(description: "cannot open \(logPath)")
        }
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw StartError(description: "cannot start etcd: \(error)")
        }
        try? log.close()
        lock.withLock { processes[index] = process }
        // A member that lost its port to another process exits at once; report that so init retries.
        if waitUntil(seconds: 0.3, { !process.isRunning }) {
            throw StartError(description: "etcd member \(member.name) exited at start; see \(logPath)")
        }
    }

    private func stopAll(removeFiles: Bool) {
        for index in processes.indices { kill(index) }
        if removeFiles { try? FileManager.default.removeItem(atPath: root) }
    }

    /// One HTTP/1.1 POST over a plain socket (no client library: the fixture checks the cluster the
    /// code under test talks to). Returns the answer, nil when the member is not reachable.
    static func post(port: Int, path: String, body: String) -> RawResponse? {
        try? RawClient.request(
            port: port, method: "POST", path: path,
            headers: [("Grpc-Metadata-hasleader", "true"), ("Content-Type", "application/json")],
            body: Array(body.utf8), receiveTimeout: 2)
    }
}
