// Serves GET /v3/services with the body file given as the first argument, on 127.0.0.1:<port>.
import Foundation
import Hummingbird

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[2]),
    let bytes = FileManager.default.contents(atPath: arguments[1])
else {
    FileHandle.standardError.write(Data("usage: hummingbird-peer <body.json> <port>\n".utf8))
    exit(2)
}
let body = ByteBuffer(bytes: [UInt8](bytes))
let router = Router()
router.get("/v3/services") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
