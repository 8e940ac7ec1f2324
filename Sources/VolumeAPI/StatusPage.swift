// GET / for a browser: one self-contained status page (no external assets, no build step).

import HTTPServer

extension VolumeAPI {
    /// The status page, when the request prefers HTML (a browser); nil for JSON clients.
    func statusPage(_ request: HTTPRequest) -> HTTPResponse? {
        guard StatusPage.prefersHTML(request.headers["Accept"]) else { return nil }
        return StatusPage.response(access: StatusPage.access(for: request, policy: access))
    }
}

/// The page a person gets when they open the API in a browser. It is static: it fetches
/// `GET /drivers` (and each backend's `/events`) itself, every two seconds, with `If-None-Match`,
/// so an unchanged service costs a 304 per poll. The only thing rendered per request is whether
/// this caller may re-initialize a driver, so the page offers the button only where it would work.
enum StatusPage {
    /// Who may press "Re-initialize", as the access policy would judge this caller's POST.
    enum WriteAccess: String {
        /// No admin token is configured and the caller is on loopback: the button works as is.
        case open
        /// An admin token is configured: the button asks for it and sends it as X-Auth-Token.
        case token
        /// No token configured and the caller is remote: writes are refused, no button.
        case none
    }

    static func access(for request: HTTPRequest, policy: AccessPolicy) -> WriteAccess {
        if policy.requiresToken { return .token }
        return request.isFromLoopback ? .open : .none
    }

    /// Whether the client asked for HTML rather than JSON: `text/html` listed with a quality at least
    /// that of JSON (`application/json`, `application/*` or `*/*`). Browsers send `text/html,...,*/*;q=0.8`;
    /// curl's `*/*`, cinderclient's `application/json` and no Accept at all get JSON.
    static func prefersHTML(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var html = 0.0
        var json = 0.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                quality = Double(parameter.dropFirst(2)) ?? 0
            }
            switch type {
            case "text/html": html = max(html, quality)
            case "application/json", "application/*", "*/*": json = max(json, quality)
            default: break
            }
        }
        return html > 0 && html >= json
    }

    /// The page, with `Vary: Accept` (the same URL answers JSON to other clients) and a content
    /// security policy that allows nothing but the inline page itself and requests to this origin.
    static func response(access: WriteAccess) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Vary", value: "Accept")
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(
            name: "Content-Security-Policy",
            value:
                "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        let body = pages[access] ?? []
        return HTTPResponse(
            status: .ok, contentType: "text/html; charset=utf-8",
            etag: EncodedView.entityTag(for: body), headers: headers, body: body)
    }

    /// The three variants, built once.
    private static let pages: [WriteAccess: [UInt8]] = {
        var pages: [WriteAccess: [UInt8]] = [:]
        for access in [WriteAccess.open, .token, .none] {
            pages[access] = Array(html.replacingOccurrences(of: "{{WRITE_ACCESS}}", with: access.rawValue).utf8)
        }
        return pages
    }()

    static let html = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>volumed</title>
        <link rel="icon" href="data:,">
        <style>
        :root { color-scheme: light dark; --ok: #1a7f37; --busy: #0969da; --warn: #9a6700; --bad: #cf222e; --stop: #8250df; --muted: #6e7781; }
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
        h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
        #summary { color: var(--muted); margin-bottom: 1rem; }
        #problem { color: var(--bad); font-weight: 600; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; vertical-align: top; padding: .45rem .6rem; border-bottom: 1px solid #d0d7de; }
        th { font-weight: 600; font-size: .85rem; color: var(--muted); }
        .state { display: inline-block; padding: .1rem .55rem; border-radius: 1rem; color: #fff; font-weight: 600; }
        .state-ready { background: var(--ok); } .state-initializing { background: var(--busy); }
        .state-retrying { background: var(--warn); } .state-exhausted { background: var(--stop); } .state-failed { background: var(--bad); }
        .muted { color: var(--muted); } .error-message { font-family: ui-monospace, monospace; font-size: .85rem; white-space: pre-wrap; word-break: break-word; }
        ol.transitions { margin: 0; padding-left: 1.1rem; font-size: .85rem; max-width: 30rem; }
        ol.transitions li { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        td.last-error { max-width: 22rem; }
        button { font: inherit; padding: .2rem .7rem; cursor: pointer; }
        .publish-failed { color: var(--bad); }
        </style>
        </head>
        <body data-write-access="{{WRITE_ACCESS}}">
        <h1>volumed <span id="host" class="muted"></span></h1>
        <div id="summary">loading…</div>
        <div id="problem" role="alert"></div>
        <table>
        <thead><tr><th>Backend</th><th>State</th><th>Attempts</th><th>Last error</th><th>Next attempt</th><th>Last publish</th><th>Recent transitions</th><th></th></tr></thead>
        <tbody id="backends"></tbody>
        </table>
        <p class="muted">Refreshes every 2 s from <a href="drivers">/drivers</a>. Times are this browser's local time.</p>
        <script>
        "use strict";
        const writeAccess = document.body.dataset.writeAccess;
        const state = { etag: null, drivers: [], events: new Map(), skewMs: 0, serverHost: "" };
        const $ = (id) => document.getElementById(id);

        function el(tag, attributes, ...children) {
          const node = document.createElement(tag);
          for (const [name, value] of Object.entries(attributes || {})) {
            if (name === "text") node.textContent = value; else node.setAttribute(name, value);
          }
          for (const child of children) if (child) node.append(child);
          return node;
        }
        function serverNow() { return Date.now() + state.skewMs; }
        function ago(iso) {
          if (!iso) return "";
          const seconds = Math.round((serverNow() - Date.parse(iso)) / 1000);
          if (seconds < 1) return "just now";
          if (seconds < 120) return seconds + " s ago";
          return Math.round(seconds / 60) + " min ago";
        }
        function local(iso) { return iso ? new Date(iso).toLocaleTimeString() : ""; }
        function countdown(driver) {
          if (driver.state === "exhausted") return "none: exhausted, needs a manual re-initialization";
          if (driver.state === "failed") return "none: unrecoverable, needs a fix and a manual re-initialization";
          if (!driver.next_reinit_at) return driver.state === "initializing" ? "running now" : "—";
          const seconds = Math.ceil((Date.parse(driver.next_reinit_at) - serverNow()) / 1000);
          return seconds > 0 ? "in " + seconds + " s" : "due now";
        }

        async function getJSON(url, etag) {
          const headers = { "Accept": "application/json" };
          if (etag) headers["If-None-Match"] = etag;
          const response = await fetch(url, { headers, cache: "no-store" });
          const date = response.headers.get("Date");
          if (date) state.skewMs = Date.parse(date) + 500 - Date.now();
          if (response.status === 304) return { notModified: true, etag };
          if (!response.ok) throw new Error(url + ": HTTP " + response.status);
          return { body: await response.json(), etag: response.headers.get("ETag") };
        }

        async function poll() {
          try {
            const result = await getJSON("drivers", state.etag);
            if (!result.notModified) {
              state.etag = result.etag;
              state.drivers = result.body.drivers;
              await Promise.all(state.drivers.map(refreshEvents));
            }
            $("problem").textContent = "";
          } catch (error) {
            $("problem").textContent = "Cannot reach volumed (" + error.message + "); retrying.";
          }
          render();
        }

        async function refreshEvents(driver) {
          const known = state.events.get(driver.id);
          const result = await getJSON("drivers/" + encodeURIComponent(driver.id) + "/events", known && known.etag);
          if (!result.notModified) state.events.set(driver.id, { etag: result.etag, events: result.body.events });
        }

        async function reinitialize(id, button) {
          const headers = { "Content-Type": "application/json", "Accept": "application/json" };
          if (writeAccess === "token") {
            let token = sessionStorage.getItem("volumed-token");
            if (!token) token = prompt("Admin token (sent as X-Auth-Token):");
            if (!token) return;
            sessionStorage.setItem("volumed-token", token);
            headers["X-Auth-Token"] = token;
          }
          button.disabled = true;
          try {
            const response = await fetch("drivers/" + encodeURIComponent(id) + "/reinit", { method: "POST", headers, body: "{}" });
            if (response.status === 401 || response.status === 403) sessionStorage.removeItem("volumed-token");
            if (!response.ok) {
              const fault = await response.json().catch(() => ({}));
              const detail = Object.values(fault)[0];
              $("problem").textContent = "Re-initializing " + id + " was refused: " + ((detail && detail.message) || "HTTP " + response.status);
            }
          } finally {
            button.disabled = false;
            state.etag = null;
            poll();
          }
        }

        function summary(drivers) {
          if (drivers.length === 0) return "no backends";
          const order = ["initializing", "ready", "retrying", "exhausted", "failed"];
          const counts = {};
          for (const driver of drivers) counts[driver.state] = (counts[driver.state] || 0) + 1;
          return drivers.length + (drivers.length === 1 ? " backend: " : " backends: ")
            + order.filter((s) => counts[s]).map((s) => counts[s] + " " + s).join(", ");
        }

        function row(driver) {
          const error = driver.last_error;
          const publish = driver.last_publish;
          const events = (state.events.get(driver.id) || { events: [] }).events.slice(0, 5);
          const limit = driver.reinit_limit === 0 ? "unlimited" : String(driver.reinit_limit);
          const errorCell = error
            ? el("div", {}, el("div", { text: error.class + " / " + error.kind + " · " + ago(error.at) }),
                 el("div", { class: "error-message", text: error.message }))
            : el("span", { class: "muted", text: "none" });
          const publishCell = publish
            ? el("span", { class: publish.ok ? "" : "publish-failed",
                           text: (publish.ok ? "ok" : "failed: " + (publish.error || "refused")) + " · " + ago(publish.at) })
            : el("span", { class: "muted", text: "not yet" });
          const transitions = el("ol", { class: "transitions" });
          for (const event of events) {
            const line = local(event.at) + " " + (event.from || "·") + " → " + event.to + (event.reason ? ": " + event.reason : "");
            transitions.append(el("li", { text: line, title: line }));
          }
          let action = null;
          if (writeAccess !== "none") {
            action = el("button", { type: "button", text: "Re-initialize", "data-backend": driver.id });
            if (driver.state === "initializing") action.disabled = true;
            action.addEventListener("click", () => reinitialize(driver.id, action));
          }
          return el("tr", { "data-backend": driver.id, "data-state": driver.state },
            el("td", {}, el("strong", { text: driver.id }), el("div", { class: "muted", text: driver.volume_driver })),
            el("td", {}, el("span", { class: "state state-" + driver.state, text: driver.state })),
            el("td", { class: "attempts", text: driver.reinit_attempts + " of " + limit }),
            el("td", { class: "last-error" }, errorCell),
            el("td", { class: "next-attempt", text: countdown(driver) }),
            el("td", { class: "last-publish" }, publishCell),
            el("td", {}, transitions),
            el("td", {}, action));
        }

        function render() {
          const drivers = state.drivers;
          if (drivers.length) $("host").textContent = drivers[0].host.split("@")[0];
          $("summary").textContent = summary(drivers);
          $("backends").replaceChildren(...drivers.map(row));
          document.title = "volumed: " + summary(drivers);
        }

        poll();
        setInterval(poll, 2000);
        setInterval(() => {
          for (const cell of document.querySelectorAll("tr[data-backend]")) {
            const driver = state.drivers.find((d) => d.id === cell.dataset.backend);
            if (driver) cell.querySelector(".next-attempt").textContent = countdown(driver);
          }
        }, 1000);
        </script>
        </body>
        </html>
        """#
}
