import CCurl

/// Collects one transfer's response headers and body from libcurl's callbacks, within fixed bounds so a
/// misbehaving peer cannot make the client hold unbounded memory.
final class TransferSink {
    static let maxHeaderBytes = 256 * 1024

    let maxBodyBytes: Int
    var body: [UInt8] = []
    var headers: [CurlHeader] = []
    var headerBytes = 0
    /// Why a callback refused data; libcurl then reports CURLE_WRITE_ERROR.
    var overflow: String?
    /// Set for a streamed transfer: body bytes go to its receiver instead of `body`.
    let stream: StreamHooks?

    init(maxBodyBytes: Int, stream: StreamHooks? = nil) {
        self.maxBodyBytes = maxBodyBytes
        self.stream = stream
    }

    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let stream {
            guard stream.shouldContinue(), stream.receive(bytes) else {
                stream.stopped = true
                return false
            }
            return true
        }
        guard body.count + bytes.count <= maxBodyBytes else {
            overflow = "\(CurlError.tooLargePrefix) the limit of \(maxBodyBytes) bytes"
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// Takes one raw header line as libcurl delivers it (status lines included, CRLF at the end).
    func appendHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        headerBytes += bytes.count
        guard headerBytes <= Self.maxHeaderBytes else {
            overflow = "response headers larger than \(Self.maxHeaderBytes) bytes"
            return false
        }
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new status line: an interim 1xx answer came before, or this is the first one.
            headers.removeAll(keepingCapacity: true)
        } else if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
            // An obsolete folded continuation of the previous field.
            headers[headers.count - 1].value += " " + Self.trimmed(Substring(line))
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = Self.trimmed(line[line.index(after: colon)...])
            headers.append(CurlHeader(name, value))
        }
        return true
    }

    private static func trimmed(_ text: Substring) -> String {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}

/// libcurl's write callback: hands body bytes to the `TransferSink` passed as user data.
let receiveBody: ccurl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let sink = Unmanaged<TransferSink>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return 0 }
    return sink.appendBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

/// The caller's side of a streamed transfer: where the body goes and whether to go on.
final class StreamHooks {
    let shouldContinue: @Sendable () -> Bool
    let receive: (UnsafeRawBufferPointer) -> Bool
    /// The caller ended the transfer; libcurl's resulting error is not a failure.
    var stopped = false

    init(shouldContinue: @escaping @Sendable () -> Bool, receive: @escaping (UnsafeRawBufferPointer) -> Bool) {
        self.shouldContinue = shouldContinue
        self.receive = receive
    }
}

/// libcurl's progress callback for streamed transfers: called about once a second while the stream is
/// quiet, so a stop asked for by another thread is seen without waiting for the peer.
let checkStream: ccurl_xferinfo_callback = { userdata, _, _, _, _ in
    guard let userdata else { return 0 }
    let sink = Unmanaged<TransferSink>.fromOpaque(userdata).takeUnretainedValue()
    guard let stream = sink.stream else { return 0 }
    if stream.shouldContinue() { return 0 }
    stream.stopped = true
    return 1
}

/// libcurl's header callback: hands each header line to the `TransferSink` passed as user data.
let receiveHeader: ccurl_data_callback = { data, size, count, userdata in
    guard let userdata else { return 0 }
    let sink = Unmanaged<TransferSink>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return 0 }
    return sink.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

/// The request's header fields as a `curl_slist`, plus the fields that switch off libcurl defaults the
/// caller did not ask for (`Expect: 100-continue`, which stalls against peers that ignore it, and the
/// form content type libcurl would claim for a POST body).
struct HeaderList {
    private(set) var list: UnsafeMutablePointer<curl_slist>?

    init(_ headers: [CurlHeader], hasBody: Bool) throws(CurlError) {
        var lines: [String] = []
        var names = Set<String>()
        for header in headers {
            try RequestCheck.header(header)
            names.insert(header.name.lowercased())
            // "Name;" is libcurl's spelling for a field sent with an empty value.
            lines.append(header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)")
        }
        if !names.contains("expect") { lines.append("Expect:") }
        if hasBody, !names.contains("content-type") { lines.append("Content-Type:") }
        for line in lines {
            guard let appended = line.withCString({ curl_slist_append(list, $0) }) else {
                free()
                throw CurlError(code: CURLE_OUT_OF_MEMORY, detail: "cannot build the header list")
            }
            list = appended
        }
    }

    func free() {
        curl_slist_free_all(list)
    }
}

/// Checks made before anything reaches libcurl, so a bad method, URL or header field becomes a clear
/// error instead of a malformed request on the wire.
enum RequestCheck {
    private static let tokenCharacters: Set<UInt8> = {
        var set = Set<UInt8>()
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { set.insert(byte) }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { set.insert(byte) }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { set.insert(byte) }
        for byte in "!#$%&'*+-.^_`|~".utf8 { set.insert(byte) }
        return set
    }()

    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { tokenCharacters.contains($0) }
    }

    /// Returns the method as sent; methods are case-sensitive in HTTP, so none is rewritten.
    static func method(_ method: String) throws(CurlError) -> String {
        guard isToken(method), method.utf8.count <= 32 else {
            throw .badRequest("invalid HTTP method \(quoted(method))")
        }
        return method
    }

    static func url(_ url: String) throws(CurlError) {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://") else {
            throw .badRequest("URL \(quoted(url)) is not an absolute http:// or https:// URL")
        }
        guard url.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw .badRequest("URL \(quoted(url)) contains a space or control character")
        }
    }

    static func header(_ header: CurlHeader) throws(CurlError) {
        guard isToken(header.name) else {
            throw .badRequest("invalid header field name \(quoted(header.name))")
        }
        guard header.value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .badRequest("header field \(header.name) has a control character in its value")
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars.prefix(200) {
            out += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return out + "\""
    }
}
