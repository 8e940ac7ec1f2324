import Config
import HTTPServer

extension HTTPServerConfiguration {
    /// The server settings an operator wrote in `[DEFAULT]` (`http_*` options) for one listener.
    init(listen host: String, port: Int, limits: HTTPLimits) {
        self.init(host: host, port: port)
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
