import Foundation
import SharedTestSupport

/// Headless Chromium driven through its DevTools protocol: a browser process of its own (own
/// profile directory, debugging port chosen by Chromium), one page, commands over a WebSocket this
/// file speaks itself (RFC 6455, text frames only), console errors and exceptions collected.
final class HeadlessChromium: @unchecked Sendable {
    let browser: VolumedProcess
    private let profile: String
    private let socket: WebSocketConnection
    private let lock = NSLock()
    private var nextID = 0
    private var answers: [Int: [String: Any]] = [:]
    private var problems: [String] = []
    private var closed = false

    init() throws {
        let chromium = try ExternalTool("chromium", package: "chromium")
        let profile = temporaryDirectory("chromium-profile")
        self.profile = profile
        let browser = try VolumedProcess(
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage",
                "--user-data-dir=\(profile)", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                "--window-size=1400,900", "about:blank",
            ], executable: URL(fileURLWithPath: chromium.path))
        self.browser = browser
        var port: Int?
        _ = SharedTestSupport.waitUntil(seconds: 60) {
            let text = browser.stderr
            guard
                let range = text.range(
                    of: #"DevTools listening on ws://127\.0\.0\.1:[0-9]+"#, options: .regularExpression)
            else {
                return false
            }
            port = Int(text[range].split(separator: ":").last ?? "")
            return true
        }
        guard let port else {
            browser.stop()
            throw FaultTestError("chromium printed no DevTools address: \(browser.stderr.suffix(2000))")
        }
        // The page Chromium opened with about:blank.
        var pageURL: String?
        _ = SharedTestSupport.waitUntil(seconds: 30) {
            let response = try? JSONClient().client.get("http://127.0.0.1:\(port)/json/list")
            let targets =
                (response.flatMap { try? JSONSerialization.jsonObject(with: Data($0.body)) } as? [[String: Any]]) ?? []
            pageURL = targets.first { $0["type"] as? String == "page" }?["webSocketDebuggerUrl"] as? String
            return pageURL != nil
        }
        guard let pageURL else {
            browser.stop()
            throw FaultTestError("chromium listed no page target")
        }
        do {
            socket = try WebSocketConnection(url: pageURL)
        } catch {
            browser.stop()
            throw error
        }
        let thread = Thread { [self] in readLoop() }
        thread.name = "devtools-reader"
        thread.start()
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] { _ = try send(domain) }
    }

    /// Console errors, uncaught exceptions and failed loads the page reported so far.
    var pageProblems: [String] { lock.withLock { problems } }

    private func readLoop() {
        while let text = try? socket.receive() {
            guard let message = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                continue
            }
            lock.withLock {
                if let id = message["id"] as? Int {
                    answers[id] = message
                    return
                }
                let params = message["params"] as? [String: Any] ?? [:]
                switch message["method"] as? String {
                case "Runtime.consoleAPICalled"
                where params["type"] as? String == "error" || params["type"] as? String == "assert":
                    problems.append("console.\(params["type"] ?? ""): \(params["args"] ?? "")")
                case "Runtime.exceptionThrown":
                    problems.append("exception: \(params["exceptionDetails"] ?? "")")
                case "Log.entryAdded":
                    if let entry = params["entry"] as? [String: Any], entry["level"] as? String == "error" {
                        problems.append("log: \(entry["text"] ?? "") \(entry["url"] ?? "")")
                    }
                default:
                    break
                }
            }
        }
        lock.withLock { closed = true }
    }

    /// Sends a command and waits for its answer's `result`.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30) throws -> [String: Any] {
        let id = lock.withLock {
            nextID += 1
            return nextID
        }
        let data = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        try socket.send(String(decoding: data, as: UTF8.self))
        var answer: [String: Any]?
        _ = SharedTestSupport.waitUntil(seconds: timeout) {
            answer = lock.withLock { answers.removeValue(forKey: id) }
            return answer != nil || lock.withLock { closed }
        }
        guard let answer else { throw FaultTestError("\(method): no answer from chromium") }
        if let error = answer["error"] { throw FaultTestError("\(method): \(error)") }
        return answer["result"] as? [String: Any] ?? [:]
    }

    func navigate(_ url: String) throws {
        try send("Page.navigate", ["url": url])
    }

    /// Evaluates `expression` in the page; returns its value (JSON-serializable results only).
    func evaluate(_ expression: String) throws -> Any? {
        let result = try send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let details = result["exceptionDetails"] { throw FaultTestError("\(expression): \(details)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Polls `expression` until it evaluates to true.
    func waitUntil(_ expression: String, timeout: Double = 60) -> Bool {
        SharedTestSupport.waitUntil(seconds: timeout) { (try? evaluate(expression)) as? Bool == true }
    }

    func screenshot(to path: String) throws {
        let result = try send("Page.captureScreenshot", ["format": "png"])
        guard let encoded = result["data"] as? String, let data = Data(base64Encoded: encoded) else {
            throw FaultTestError("Page.captureScreenshot returned no image")
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    func close() {
        socket.close()
        browser.stop()
        try? FileManager.default.removeItem(atPath: profile)
    }
}

/// A client WebSocket over a blocking TCP socket: the opening handshake, masked text frames out,
/// text and continuation frames in (pings answered). Enough for the DevTools protocol.
final class WebSocketConnection: @unchecked Sendable {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private let sendLock = NSLock()

    init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "ws", let host = components.host,
            let port = components.port
        else { throw FaultTestError("not a ws:// URL: \(url)") }
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw FaultTestError("connect \(url): errno \(errno)") }
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request =
            "GET \(components.path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try write(Array(request.utf8))
        while true {
            if let end = buffer.firstRange(of: [13, 10, 13, 10]) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)
                guard head.hasPrefix("HTTP/1.1 101") else {
                    throw FaultTestError("WebSocket handshake refused: \(head)")
                }
                return
            }
            try fill()
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw FaultTestError("WebSocket write: errno \(errno)") }
            offset += written
        }
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw FaultTestError("WebSocket closed") }
        buffer.append(contentsOf: chunk[..<count])
    }

    private func need(_ count: Int) throws {
        while buffer.count < count { try fill() }
    }

    func send(_ text: String) throws {
        try sendFrame(opcode: 0x1, payload: Array(text.utf8))
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        switch payload.count {
        case ..<126: frame.append(0x80 | UInt8(payload.count))
        case ..<65536: frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default:
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xff)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        sendLock.lock()
        defer { sendLock.unlock() }
        try write(frame)
    }

    /// The next whole text message; throws once the connection closed.
    func receive() throws -> String {
        var message: [UInt8] = []
        while true {
            try need(2)
            let fin = buffer[0] & 0x80 != 0
            let opcode = buffer[0] & 0x0f
            var length = Int(buffer[1] & 0x7f)
            var header = 2
            if length == 126 {
                try need(4)
                length = Int(buffer[2]) << 8 | Int(buffer[3])
                header = 4
            } else if length == 127 {
                try need(10)
                length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
                header = 10
            }
            try need(header + length)
            let payload = Array(buffer[header..<(header + length)])
            buffer.removeSubrange(..<(header + length))
            switch opcode {
            case 0x8: throw FaultTestError("WebSocket closed by chromium")
            case 0x9: try sendFrame(opcode: 0xA, payload: payload)
            case 0x0, 0x1, 0x2:
                message += payload
                if fin { return String(decoding: message, as: UTF8.self) }
            default: break
            }
        }
    }

    func close() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        Glibc.close(descriptor)
    }
}
