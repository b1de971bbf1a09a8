import AsyncHTTPClient
import Foundation
import LatchCore
import NIOCore
import Testing

@Suite("Graceful shutdown", .timeLimit(.minutes(1)))
struct ShutdownLiveTests {
    @Test("requests in flight finish, idle keep-alive connections close, nothing new is accepted")
    func inFlightFinish() async throws {
        try await withLatch(reply: { _, head in
            head.uri == "/slow" ? .delayed(.milliseconds(1500), body: "done") : .text(body: "hello")
        }) { h in
            let idle = try await RawClient.connect(port: h.port, group: h.group)
            try await idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await idle.wait { text, _ in text.contains("hello") }

            let busy = try await RawClient.connect(port: h.port, group: h.group)
            try await busy.send("GET /slow HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=S.tomcat1\r\n\r\n")
            _ = try await eventually { h.backend("tomcat1").requests.contains { $0.head.uri == "/slow" } }

            let clock = ContinuousClock()
            let start = clock.now
            await h.server.shutdown(grace: .seconds(5))
            let took = clock.now - start

            let answer = try await busy.wait { _, closed in closed }
            #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "the request in flight was answered")
            #expect(answer.hasSuffix("done"))
            #expect(answer.lowercased().contains("connection: close"), "and told the connection ends")
            #expect(try await idle.wait { _, closed in closed } .contains("hello"))
            #expect(idle.isClosed, "the idle keep-alive connection was closed")
            #expect(took < .seconds(5), "it did not wait for the grace period to run out")
            await #expect(throws: (any Error).self) { try await RawClient.connect(port: h.port, group: h.group) }
        }
    }

    @Test("the grace period bounds the wait: a request still running then is cut, and logged as cut by shutdown")
    func graceBounds() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("latch-shutdown-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        try await withLatch(configure: { $0.accessLog.path = log }, reply: { _, _ in .hang }) { h in
            let busy = try await RawClient.connect(port: h.port, group: h.group)
            try await busy.send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await eventually { h.backends.contains { !$0.requests.isEmpty } }
            let clock = ContinuousClock()
            let start = clock.now
            await h.server.shutdown(grace: .milliseconds(300))
            #expect(clock.now - start < .seconds(3))
            _ = try await busy.wait { _, closed in closed }
            #expect(busy.isClosed)
            var first: Substring?
            _ = try await eventually {
                first = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").first
                return first != nil
            }
            let line = try #require(first, "the cut exchange has its access line")
            #expect(line.contains("target=/forever"), "\(line)")
            #expect(line.contains("cut by shutdown at the end of shutdown_grace"), "\(line)")
            #expect(!line.contains("client closed"), "\(line)")
        }
    }
}
