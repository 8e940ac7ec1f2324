import Config
import HTTPServer
import VolumeAPI

extension HTTPServerConfiguration {
    /// The server settings an operator wrote in `[DEFAULT]` (`http_*` options) for one listener.
    /// Both listeners are OpenStack APIs, so the server's own refusals are OpenStack faults too
    /// (Cinder's clients parse them).
    init(listen host: String, port: Int, limits: HTTPLimits) {
        self.init(host: host, port: port)
        renderError = OpenStackFault.render
        maxHeadBytes = limits.maxHeaderBytes
        maxHeaderCount = limits.maxHeaders
        maxBodyBytes = limits.maxBodyBytes
        headerReadTimeout = .milliseconds(Int64(limits.headerTimeout * 1000))
        bodyReadTimeout = .milliseconds(Int64(limits.bodyTimeout * 1000))
        keepAliveIdleTimeout = .milliseconds(Int64(limits.keepaliveTimeout * 1000))
        writeTimeout = .milliseconds(Int64(limits.writeTimeout * 1000))
        maxConnections = limits.maxConnections
        maxPipelinedRequests = limits.maxPipelinedRequests
        maxQueuedResponseBytes = limits.maxQueuedResponseBytes
        maxBufferedOutputBytes = limits.maxBufferedOutputBytes
        maxBufferedRequestBytes = limits.maxBufferedRequestBytes
    }
}
