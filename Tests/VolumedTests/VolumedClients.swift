import CurlClient
import Foundation
import SharedTestSupport

/// JSON over the product's own libcurl client. Reads ask for volumed's newest microversion (the
/// shapes the tests read: `backend_state` needs 3.49).
struct JSONClient {
    let client = try! CurlClient(configuration: .init(connectTimeout: 5, totalTimeout: 20))

    func get(_ url: String) throws -> (status: Int, json: [String: Any]) {
        let response = try client.get(url, headers: [CurlHeader("OpenStack-API-Version", "volume latest")])
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, object)
    }

    func send(_ method: String, _ url: String, json: Any? = nil, token: String? = nil) throws -> (
        status: Int, json: [String: Any]
    ) {
        var headers: [CurlHeader] = []
        var body: [UInt8]?
        if let json {
            body = [UInt8](try JSONSerialization.data(withJSONObject: json))
            headers.append(CurlHeader("Content-Type", "application/json"))
        }
        if let token { headers.append(CurlHeader("X-Auth-Token", token)) }
        let response = try client.send(
            CurlRequest(method: method, url: url, headers: headers, body: body ?? (method == "GET" ? nil : [])))
        let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, object)
    }

    /// Polls `GET url` until `condition` holds on the JSON.
    func waitFor(_ url: String, timeout: Double = 60, _ condition: ([String: Any]) -> Bool) -> [String: Any]? {
        var last: [String: Any]?
        let ok = waitUntil(seconds: timeout) {
            guard let (status, json) = try? get(url), status == 200 else { return false }
            last = json
            return condition(json)
        }
        return ok ? last : nil
    }
}

/// The driver entry with `id` in a `GET /drivers` document.
func driver(_ id: String, in document: [String: Any]) -> [String: Any]? {
    (document["drivers"] as? [[String: Any]])?.first { $0["id"] as? String == id }
}
