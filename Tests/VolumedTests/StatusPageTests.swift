import CurlClient
import Foundation
import SharedTestSupport
import Testing

/// `GET /` in a browser: the status page, in a real headless Chromium against a real volumed.
@Suite(
    .offCooperativePool,
    .enabled(if: Tool.available("chromium"), "chromium is not installed; scripts/setup --test installs it"))
struct StatusPageTests {
    /// Where the screenshot is kept (git-ignored).
    static let artifacts = repositoryRoot + "/.test-artifacts"

    static let browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

    @Test func theLivePageShowsEveryBackendAndFollowsARecovery() throws {
        let dir = temporaryDirectory("status-page")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = FaultConfig(directory: dir, defaults: ["reinit_driver_count": "0", "reinit_backoff_max": "2"])
        try config.addBackendsInEveryState()
        let (volumed, base) = try startService(config)
        defer { volumed.stop() }
        let api = JSONClient()
        #expect(
            api.waitFor(base + "/drivers") {
                state("gold", $0) == "ready" && state("silver", $0) == "retrying"
                    && state("tin", $0) == "failed"
            } != nil, "stderr: \(volumed.stderr)")

        // A browser's Accept gets the page; a JSON client does not.
        let client = api.client
        let page = try client.send(
            CurlRequest(method: "GET", url: base + "/", headers: [CurlHeader("Accept", Self.browserAccept)]))
        #expect(page.status == 200)
        #expect(page.headers.first { $0.name.lowercased() == "content-type" }?.value == "text/html; charset=utf-8")
        #expect(page.headers.contains { $0.name.lowercased() == "vary" && $0.value == "Accept" })
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="), "no external assets")
        let json = try client.send(
            CurlRequest(method: "GET", url: base + "/", headers: [CurlHeader("Accept", "application/json")]))
        #expect(
            json.headers.first { $0.name.lowercased() == "content-type" }?.value.hasPrefix("application/json") == true)

        let chromium = try HeadlessChromium()
        defer { chromium.close() }
        try chromium.navigate(base + "/")
        func row(_ id: String) -> String { "document.querySelector('tr[data-backend=\"\(id)\"]')" }
        #expect(
            chromium.waitUntil(
                """
                \(row("gold"))?.dataset.state === 'ready' && \(row("silver"))?.dataset.state === 'retrying'
                && \(row("tin"))?.dataset.state === 'failed'
                """), "page: \(String(describing: try? chromium.evaluate("document.body.innerText")))")
        let text = try #require(try chromium.evaluate("document.body.innerText") as? String)
        #expect(text.contains("3 backends: 1 ready, 1 retrying, 1 failed"), "\(text)")
        #expect(
            try chromium.evaluate("\(row("tin")).querySelector('.last-error').innerText") as? String ?? ""
                ~= "unrecoverable / config_error")
        #expect(
            try chromium.evaluate("\(row("silver")).querySelector('.last-error').innerText") as? String ?? ""
                ~= "recoverable / backend_unavailable")
        #expect(
            try chromium.evaluate("\(row("silver")).querySelector('.attempts').innerText") as? String ?? ""
                ~= "of unlimited")
        let countdown =
            try chromium.evaluate("\(row("silver")).querySelector('.next-attempt').innerText") as? String ?? ""
        #expect(
            countdown.range(of: #"^(in [0-9]+ s|due now|running now)$"#, options: .regularExpression) != nil,
            "\(countdown)")
        #expect(
            try chromium.evaluate("\(row("gold")).querySelector('.last-publish').innerText") as? String ?? "" ~= "ok")
        #expect(
            try chromium.evaluate("getComputedStyle(\(row("tin")).querySelector('.state')).backgroundColor") as? String
                == "rgb(207, 34, 46)", "failed is red")
        #expect(
            try chromium.evaluate("getComputedStyle(\(row("gold")).querySelector('.state')).backgroundColor") as? String
                == "rgb(26, 127, 55)", "ready is green")
        #expect(
            chromium.waitUntil("\(row("tin")).querySelectorAll('ol.transitions li').length >= 2"), "recent transitions")
        try chromium.screenshot(to: Self.artifacts + "/status-page-failing.png")

        // silver's storage appears: the page follows by itself.
        try FileManager.default.createDirectory(
            atPath: config.shareDirectory("silver"), withIntermediateDirectories: true)
        #expect(
            chromium.waitUntil("\(row("silver"))?.dataset.state === 'ready'"),
            "the page did not follow silver's recovery")
        #expect(chromium.waitUntil("document.getElementById('summary').innerText === '3 backends: 2 ready, 1 failed'"))
        // It polled with If-None-Match and was answered 304 while nothing changed.
        let metrics = try CurlClientText.get(base + "/metrics")
        #expect(
            metrics.range(
                of: #"volumed_http_requests_total\{route="/drivers/\{id\}/events",method="GET",code="304"\} [1-9]"#,
                options: .regularExpression) != nil, "no conditional polls seen")

        // The re-initialization button (loopback, no token: allowed) passes the API's checks.
        let before = api.transitions(base, "tin").count
        _ = try chromium.evaluate("document.querySelector('button[data-backend=\"tin\"]').click()")
        #expect(
            waitUntil(seconds: 30) { api.transitions(base, "tin").count >= before + 2 }, "stderr: \(volumed.stderr)")
        #expect(volumed.stderr.contains("driver re-initialization requested through the API"))
        #expect(try chromium.evaluate("document.getElementById('problem').innerText") as? String == "")
        try chromium.screenshot(to: Self.artifacts + "/status-page.png")
        #expect(FileManager.default.fileExists(atPath: Self.artifacts + "/status-page.png"))
        #expect(chromium.pageProblems.isEmpty, "console errors: \(chromium.pageProblems)")
        // The collector above hears console errors at all.
        _ = try chromium.evaluate("console.error('volumed-probe')")
        #expect(waitUntil(seconds: 10) { chromium.pageProblems.contains { $0.contains("volumed-probe") } })
    }
}

/// Substring match for readable expectations.
private func ~= (text: String, part: String) -> Bool { text.contains(part) }
