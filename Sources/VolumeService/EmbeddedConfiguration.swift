import Config
import Foundation

/// What `volumed serve` runs with no `--config`: two NFS backends on local directories, one ready
/// and one whose storage does not exist yet, so a fresh machine shows the service's purpose at
/// once: the second backend is `retrying`, and it comes up by itself at its next re-initialization
/// (at most `reinit_backoff_max`, 10 s) after the operator creates its directory.
package struct EmbeddedConfiguration: Sendable {
    /// Where the demo's shares and state live (created if missing).
    package let dataDirectory: String
    /// The directory whose creation brings the `nfs-gold` backend up.
    package var lateShare: String { dataDirectory + "/shares/gold" }
    package var readyShare: String { dataDirectory + "/shares/silver" }

    package static var defaultDataDirectory: String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return base + "/volumed-demo-\(getuid())"
    }

    package init(dataDirectory: String = EmbeddedConfiguration.defaultDataDirectory) {
        self.dataDirectory = dataDirectory
    }

    /// The configuration text, shaped like a cinder.conf an operator would write.
    package func text(port: Int = 8776) -> String {
        """
        # volumed's embedded demo configuration (volumed serve with no --config).
        [DEFAULT]
        enabled_backends = nfs-gold, nfs-silver
        backend_stats_polling_interval = 2
        service_down_time = 30
        # Keep retrying while the demo runs; backoff never waits longer than 10 s between attempts.
        reinit_driver_count = 0
        reinit_backoff_max = 10
        driver_init_timeout = 10
        osapi_volume_listen = 127.0.0.1
        osapi_volume_listen_port = \(port)
        state_path = \(dataDirectory)/state

        [backend_defaults]
        nfs_mount_point_base = \(dataDirectory)/mnt

        [nfs-gold]
        volume_driver = cinder.volume.drivers.nfs.NfsDriver
        volume_backend_name = gold
        nfs_shares_config = \(dataDirectory)/gold.shares

        [nfs-silver]
        volume_driver = nfs
        volume_backend_name = silver
        nfs_shares_config = \(dataDirectory)/silver.shares

        """
    }

    /// Writes the shares files and the ready share. The late share is removed only when it is an
    /// empty directory (`rmdir`), so each demo run starts with that backend down and nothing the
    /// operator put there is ever deleted.
    package func prepare() throws {
        rmdir(lateShare)
        try LocalFiles.makeDirectories(readyShare)
        try LocalFiles.makeDirectories(dataDirectory + "/state")
        try LocalFiles.write("\(lateShare)\n", to: dataDirectory + "/gold.shares")
        try LocalFiles.write("\(readyShare)\n", to: dataDirectory + "/silver.shares")
    }

    /// What the operator reads at start-up.
    package func banner(apiURL: String) -> String {
        """
        volumed is running on its embedded demo configuration (data in \(dataDirectory)).
          Poll the services:   curl -s -H 'OpenStack-API-Version: volume 3.49' \(apiURL)/v3/services
          Watch the drivers:   curl -s \(apiURL)/drivers
        Backend nfs-gold is down because its storage does not exist yet. Make it appear with:
          mkdir -p \(lateShare)
        and nfs-gold comes up by itself at its next re-initialization (within 10 s), no restart needed.
        Stop with Ctrl-C.
        """
    }
}
