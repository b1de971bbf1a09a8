import LatchCore
/// The bodies the demo node answers with: one plain-text line for scripts and tests, one small HTML page
/// for a person reloading a browser tab. No I/O here.
enum DemoPage {
    /// `node=<name> session=<id> hits=<n>[ body_bytes=<n>]\n` — stable and greppable, so tests and
    /// `curl` users can read which node answered without parsing HTML.
    static func plainText(node: String, visit: SessionVisit, bodyBytes: Int) -> String {
        var line = "node=\(node) session=\(visit.id) hits=\(visit.hits)"
        if bodyBytes > 0 { line += " body_bytes=\(bodyBytes)" }
        return line + "\n"
    }

    /// A self-contained page (inline CSS, no external resources, so it works offline and behind any proxy)
    /// that shows big which node answered, so stickiness and failover are visible at a glance.
    static func html(node: String, visit: SessionVisit, bodyBytes: Int) -> String {
        let node = escape(node)
        let session = escape(visit.id)
        let upload = bodyBytes > 0 ? "\n    <p class=\"note\">Request body: \(bodyBytes) bytes (read and discarded).</p>" : ""
        // Said out loud, because a count back at 1 after a failback is the point of `failback: stay`.
        let lost = visit.previousNotFound ? "\n  <p class=\"lost\">\(lostSessionNote)</p>" : ""
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(node) · Latch demo</title>
            <style>
              body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
                     font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
                     background: #f4f5f7; color: #1d2433; }
              main { background: #fff; border-radius: 14px; padding: 2.5rem 3rem; max-width: 40rem;
                     box-shadow: 0 4px 24px rgba(0, 0, 0, 0.08); text-align: center; }
              .label { text-transform: uppercase; letter-spacing: 0.12em; font-size: 0.8rem; color: #6b7385; }
              .node { font-size: 4.5rem; font-weight: 700; margin: 0.2rem 0 1.5rem; color: #2457c5; }
              dl { display: grid; grid-template-columns: auto 1fr; gap: 0.5rem 1rem; align-items: baseline; text-align: left; margin: 0 0 1.5rem; }
              dt { color: #6b7385; }
              dd { margin: 0; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; word-break: break-all; }
              .hits { font-size: 1.6rem; font-weight: 700; }
              .note { color: #4a5263; font-size: 0.95rem; margin: 0.5rem 0 0; }
              .lost { color: #a4262c; font-weight: 600; margin: 0 0 1rem; }
              form { margin: 1.5rem 0 0; }
              button { font: inherit; padding: 0.45rem 1.1rem; border-radius: 8px; border: 1px solid #c9ced8;
                       background: #fff; color: #a4262c; cursor: pointer; }
            </style>
            </head>
            <body>
            <main>
              <div class="label">Answered by node</div>
              <div class="node">\(node)</div>\(lost)
              <dl>
                <dt>Session</dt><dd>\(session)</dd>
                <dt>Hits</dt><dd class="hits">\(visit.hits)</dd>
              </dl>
              <p class="note">Reload: the count rises on the same node. Clear cookies to get a new session, maybe on another node.</p>\(upload)
              <form method="post" action="\(DemoCrashRequest.path)?seconds=\(DemoCrashRequest.defaultSeconds)">
                <button type="submit">Crash this node for \(DemoCrashRequest.defaultSeconds) s</button>
              </form>
            </main>
            </body>
            </html>

            """
    }

    /// Shown when the client presented a session this node does not hold, and got a new one.
    static let lostSessionNote = "New session: the old one was not found on this node."

    static func escape(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }
}
