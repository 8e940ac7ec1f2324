// Version discovery: the documents at GET / and GET /v3/.

import Foundation
import HTTPServer
import JSON
import Scheduler

/// Cinder's version documents (cinder/api/versions.py): `GET /` lists the API versions with 300
/// Multiple Choices, `GET /v3/` describes v3 with 200. Links point at `public_endpoint` when set (a
/// service behind a proxy), else at the `Host` the client used.
enum VersionDocuments {
    /// When volumed's v3 API last changed.
    static let updated = "2026-12-02T00:00:00Z"

    /// `{"versions": [<v3>]}`.
    static func encode(base: String, minimum: APIVersion, maximum: APIVersion) -> [UInt8] {
        var json = JSONWriter(style: .pythonDumps, reservingCapacity: 512)
        json.beginObject()
        json.key("versions")
        json.beginArray()
        json.beginObject()
        json.member("id", "v3.0")
        json.member("status", "CURRENT")
        json.member("version", maximum.description)
        json.member("min_version", minimum.description)
        json.member("updated", updated)
        json.key("links")
        json.beginArray()
        json.beginObject()
        json.member("rel", "describedby")
        json.member("type", "text/html")
        json.member("href", "https://docs.openstack.org/")
        json.endObject()
        json.beginObject()
        json.member("rel", "self")
        json.member("href", base + "/v3/")
        json.endObject()
        json.endArray()
        json.key("media-types")
        json.beginArray()
        json.beginObject()
        json.member("base", "application/json")
        json.member("type", "application/vnd.openstack.volume+json;version=3")
        json.endObject()
        json.endArray()
        json.endObject()
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// `public_endpoint` without its trailing slash, or `http://<Host>`; a `Host` that is not a
    /// plain host[:port] (RFC 9110 uri-host) falls back to `listen`.
    static func base(publicEndpoint: String?, request: HTTPRequest, listen: String) -> String {
        if let publicEndpoint, !publicEndpoint.isEmpty {
            var base = Substring(publicEndpoint)
            while base.hasSuffix("/") { base = base.dropLast() }
            return String(base)
        }
        if let host = request.headers["Host"], !host.isEmpty, host.utf8.count <= 255,
            host.unicodeScalars.allSatisfy({
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-._~:[]%".unicodeScalars.contains($0))
            })
        {
            return "http://" + host
        }
        return "http://" + listen
    }
}
