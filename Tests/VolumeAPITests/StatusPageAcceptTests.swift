import Testing

@testable import VolumeAPI

/// `GET /` serves the status page only to clients that ask for HTML at least as much as for JSON.
@Suite(.offCooperativePool) struct StatusPageAcceptTests {
    @Test func theAcceptHeaderChoosesThePage() {
        #expect(
            StatusPage.prefersHTML(
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"))
        #expect(StatusPage.prefersHTML("text/html"))
        #expect(StatusPage.prefersHTML("Text/HTML; charset=utf-8"))
        #expect(!StatusPage.prefersHTML(nil), "no Accept: the JSON document")
        #expect(!StatusPage.prefersHTML("*/*"), "curl")
        #expect(!StatusPage.prefersHTML("application/json"), "cinderclient, keystoneauth")
        #expect(!StatusPage.prefersHTML("application/json, text/html;q=0.5"))
        #expect(!StatusPage.prefersHTML("text/html;q=0"))
    }
}
