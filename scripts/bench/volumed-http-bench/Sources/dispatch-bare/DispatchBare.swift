import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum DispatchBare {
    static func main(_ arguments: [String]) {
        guard arguments.count == 3, let port = UInt16(arguments[2]),
            let body = FileManager.default.contents(atPath: arguments[1])
        else { exit(2) }
        let response = Array("HTTP/1.1 200 OK\r\nServer: bare\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + [UInt8](body)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, 16) } }
        listen(listener, 1024)
        let queues = [DispatchQueue(label: "bare-0"), DispatchQueue(label: "bare-1")]
        var next = 0
        let acceptSource = DispatchSource.makeReadSource(fileDescriptor: listener, queue: DispatchQueue(label: "accept"))
        acceptSource.setEventHandler {
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, 4)
                next += 1
                serve(fd, queue: queues[next % 2], response: response)
            }
        }
        acceptSource.resume()
        withExtendedLifetime(acceptSource) { dispatchMain() }
    }

    static func serve(_ fd: Int32, queue: DispatchQueue, response: [UInt8]) {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        var output: [UInt8] = []
        source.setEventHandler {
            let count = recv(fd, buffer.baseAddress, buffer.count, 0)
            if count <= 0 {
                if count < 0 && errno == EAGAIN { return }
                source.cancel()
                return
            }
            let bytes = buffer.bindMemory(to: UInt8.self)
            output.removeAll(keepingCapacity: true)
            if count >= 4 {
                for index in 3..<count where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 {
                    output.append(contentsOf: response)
                }
            }
            _ = output.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        source.setCancelHandler {
            close(fd)
            buffer.deallocate()
        }
        source.resume()
    }
}
