@testable import LatchDemo
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The demo node over real loopback sockets: what `latch demo` users and the proxy tests rely on.
@Suite("DemoAppServer", .timeLimit(.minutes(1)))
struct DemoAppServerTests {
    @Test func firstVisitCreatesSessionForThisNode() async throws {
        try await withDemoServer { server, group in
            let response = try await DemoTestClient.get("/", port: server.port, group: group)
            #expect(response.status == .ok)
            let setCookie = try #require(response.headers["set-cookie"].first)
            #expect(setCookie.wholeMatch(of: #/JSESSIONID=[0-9A-F]{32}\.node1; Path=/; HttpOnly/#) != nil)
            let id = try #require(sessionID(fromSetCookie: setCookie))
            #expect(response.body == "node=node1 session=\(id) hits=1\n")
            #expect(response.headers["x-demo-node"] == ["node1"])
            #expect(response.headers["content-type"] == ["text/plain; charset=utf-8"])
            #expect(response.headers["content-length"] == [String(response.body.utf8.count)])
            #expect(server.sessionCount() == 1)
        }
    }

    @Test func secondVisitWithCookieCountsOnSameSession() async throws {
        try await withDemoServer { server, group in
            let first = try await DemoTestClient.get("/", port: server.port, group: group)
            let id = try #require(first.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))

            let second = try await DemoTestClient.get("/cart", cookies: ["JSESSIONID=\(id)"], port: server.port, group: group)
            #expect(second.body == "node=node1 session=\(id) hits=2\n")
            #expect(second.headers["set-cookie"].isEmpty)
            #expect(server.sessionCount() == 1)
        }
    }

    @Test func cookieOfAnotherNodeOrUnknownIDStartsNewSession() async throws {
        try await withDemoServer { server, group in
            let foreign = "326257DA6DB76F8D2E38F2C4540D1DEA.node2"
            let a = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(foreign)"], port: server.port, group: group)
            let idA = try #require(a.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(idA != foreign)
            #expect(idA.hasSuffix(".node1"))
            #expect(a.body == "node=node1 session=\(idA) hits=1\n")

            // Right suffix but never issued here (e.g. the node restarted and lost its sessions).
            let stale = "326257DA6DB76F8D2E38F2C4540D1DEA.node1"
            let b = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(stale)"], port: server.port, group: group)
            let idB = try #require(b.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(idB != stale && idB != idA)
            #expect(server.sessionCount() == 2)

            // The cookie name is case-sensitive: `jsessionid` is some other cookie.
            let c = try await DemoTestClient.get("/", cookies: ["jsessionid=\(idA)"], port: server.port, group: group)
            #expect(c.headers["set-cookie"].count == 1)
            #expect(server.sessionCount() == 3)
        }
    }

    @Test func severalCookieHeadersAndQuotedValue() async throws {
        try await withDemoServer { server, group in
            let first = try await DemoTestClient.get("/", port: server.port, group: group)
            let id = try #require(first.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))

            let response = try await DemoTestClient.get(
                "/",
                cookies: [
                    "theme=dark; JSESSIONID=0000000000000000000000000000DEAD.node2",
                    "lang=en;JSESSIONID=\"\(id)\" ; tracking=off",
                ],
                port: server.port,
                group: group
            )
            #expect(response.body == "node=node1 session=\(id) hits=2\n")
            #expect(response.headers["set-cookie"].isEmpty)
        }
    }

    @Test func sessionIDFromURLRewritingPathParameter() async throws {
        try await withDemoServer { server, group in
            let first = try await DemoTestClient.get("/", port: server.port, group: group)
            let id = try #require(first.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))

            let response = try await DemoTestClient.get("/shop/cart;jsessionid=\(id)?item=7", port: server.port, group: group)
            #expect(response.body == "node=node1 session=\(id) hits=2\n")
            #expect(response.headers["set-cookie"].isEmpty)
        }
    }

    @Test func healthAnswersOKWithoutCreatingSession() async throws {
        try await withDemoServer { server, group in
            let response = try await DemoTestClient.get("/health", port: server.port, group: group)
            #expect(response.status == .ok)
            #expect(response.body == "ok\n")
            #expect(response.headers["set-cookie"].isEmpty)
            #expect(response.headers["x-demo-node"] == ["node1"])
            let probed = try await DemoTestClient.get("/health?probe=1", port: server.port, group: group)
            #expect(probed.body == "ok\n")
            #expect(server.sessionCount() == 0)
        }
    }

    @Test func announceSwitchSetsTheHealthCheckStateHeader() async throws {
        try await withDemoServer { server, group in
            let before = try await DemoTestClient.get("/health", port: server.port, group: group)
            #expect(before.headers["x-node-state"] == ["active"])
            let announce = try await DemoTestClient.send(.init(method: .POST, uri: "/demo/announce?state=draining"), port: server.port, group: group)
            #expect(announce.status == .ok)
            #expect(announce.body == "node1 announces draining in X-Node-State from its next health check on\n")
            let after = try await DemoTestClient.get("/health", port: server.port, group: group)
            #expect(after.headers["x-node-state"] == ["draining"])
            let bad = try await DemoTestClient.send(.init(method: .POST, uri: "/demo/announce?state=asleep"), port: server.port, group: group)
            #expect(bad.status == .badRequest)
            #expect(bad.body == "state must be one of active, draining, maintenance\n")
            let get = try await DemoTestClient.get("/demo/announce?state=active", port: server.port, group: group)
            #expect(get.status == .methodNotAllowed)
            #expect(try await DemoTestClient.get("/health", port: server.port, group: group).headers["x-node-state"] == ["draining"])
        }
    }

    @Test func headHasHeadersButNoBody() async throws {
        try await withDemoServer { server, group in
            let response = try await DemoTestClient.send(.init(method: .HEAD, uri: "/"), port: server.port, group: group)
            #expect(response.status == .ok)
            #expect(response.body.isEmpty)
            let setCookie = try #require(response.headers["set-cookie"].first)
            let id = try #require(sessionID(fromSetCookie: setCookie))
            // Content-Length is what the GET body would have been.
            #expect(response.headers["content-length"] == [String("node=node1 session=\(id) hits=1\n".utf8.count)])
            #expect(response.headers["x-demo-node"] == ["node1"])
        }
    }

    @Test func htmlVariantForBrowsers() async throws {
        try await withDemoServer(name: "tomcat7") { server, group in
            let response = try await DemoTestClient.get(
                "/",
                extraHeaders: [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
                port: server.port,
                group: group
            )
            let id = try #require(response.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(response.headers["content-type"] == ["text/html; charset=utf-8"])
            #expect(response.body.hasPrefix("<!DOCTYPE html>"))
            #expect(response.body.contains(">tomcat7<"))
            #expect(response.body.contains(id))
            #expect(response.body.contains("Reload: the count rises on the same node."))
            #expect(response.body.contains(#"<form method="post" action="/demo/crash?seconds=20">"#))
            #expect(response.body.contains("Crash this node for 20 s"))
            #expect(!response.body.contains("not found on this node"), "a first visit presented no session")
            #expect(!response.body.contains("http://") && !response.body.contains("https://"))
            #expect(response.headers["x-demo-node"] == ["tomcat7"])
        }
    }

    @Test func requestBodyIsCountedAndDiscarded() async throws {
        try await withDemoServer { server, group in
            let response = try await DemoTestClient.send(
                .init(method: .POST, uri: "/form", headers: [("Content-Type", "text/plain")], body: "hello"),
                port: server.port,
                group: group
            )
            let id = try #require(response.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(response.body == "node=node1 session=\(id) hits=1 body_bytes=5\n")
        }
    }

    @Test func keepAliveServesSeveralRequestsAndConnectionCloseHangsUp() async throws {
        try await withDemoServer { server, group in
            let outcome = try await DemoTestClient.exchange(
                [
                    .init(method: .GET, uri: "/"),
                    .init(method: .POST, uri: "/", body: "abc"),
                    .init(method: .GET, uri: "/", headers: [("Connection", "close")]),
                ],
                port: server.port,
                group: group,
                sessionCookieCarriedOver: true,
                waitForServerClose: true
            )
            #expect(outcome.responses.count == 3)
            let id = try #require(outcome.responses.first?.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)))
            #expect(outcome.responses.map(\.body) == [
                "node=node1 session=\(id) hits=1\n",
                "node=node1 session=\(id) hits=2 body_bytes=3\n",
                "node=node1 session=\(id) hits=3\n",
            ])
            #expect(outcome.responses.last?.headers["connection"] == ["close"])
            #expect(outcome.closedByServer)
        }
    }

    @Test func sessionTableIsBoundedAndEvictsOldest() async throws {
        try await withDemoServer(maxSessions: 2) { server, group in
            var ids: [String] = []
            for _ in 0..<3 {
                let response = try await DemoTestClient.get("/", port: server.port, group: group)
                ids.append(try #require(response.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:))))
            }
            #expect(server.sessionCount() == 2)
            let oldest = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(ids[0])"], port: server.port, group: group)
            #expect(oldest.headers["set-cookie"].count == 1, "the oldest session was evicted")
            let newest = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(ids[2])"], port: server.port, group: group)
            #expect(newest.body == "node=node1 session=\(ids[2]) hits=2\n")
            #expect(server.sessionCount() == 2)
        }
    }

    @Test func longRunningNodeStaysBounded() async throws {
        // Enough new sessions to go well past the table's internal compaction point.
        try await withDemoServer(maxSessions: 5) { server, group in
            let outcome = try await DemoTestClient.exchange(
                Array(repeating: .init(method: .GET, uri: "/"), count: 1_500),
                port: server.port,
                group: group
            )
            #expect(server.sessionCount() == 5)
            let ids = outcome.responses.compactMap { $0.headers["set-cookie"].first.flatMap(sessionID(fromSetCookie:)) }
            #expect(Set(ids).count == 1_500)
            // Newest first: presenting the evicted one starts a session, which would evict another.
            for (index, id) in ids.suffix(6).enumerated().reversed() {
                let response = try await DemoTestClient.get("/", cookies: ["JSESSIONID=\(id)"], port: server.port, group: group)
                // The oldest of the last six was evicted; the five newest are still known.
                #expect(response.headers["set-cookie"].isEmpty == (index > 0), "session \(index) of the last six")
            }
        }
    }

    @Test func closeEndsOpenConnectionsAndIsIdempotent() async throws {
        try await withDemoServer { server, group in
            let closed = try await DemoTestClient.withConnection(port: server.port, group: group) { connection in
                let response = try await connection.send(.init(method: .GET, uri: "/"))
                #expect(response.status == .ok)
                try await server.close()
                return try await connection.waitForServerClose()
            }
            #expect(closed)
            try await server.close()
        }
    }

    @Test func invalidNodeNameIsRejected() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        await #expect(throws: DemoAppServerError.invalidName("bad.name")) {
            _ = try await DemoAppServer.start(name: "bad.name", group: group)
        }
        await #expect(throws: DemoAppServerError.invalidName("")) {
            _ = try await DemoAppServer.start(name: "", group: group)
        }
        try await group.shutdownGracefully()
    }
}

/// `JSESSIONID=<id>; Path=/; HttpOnly` → `<id>`. Shared with `DemoReplicationTests`.
func sessionID(fromSetCookie header: String) -> String? {
    guard header.hasPrefix("JSESSIONID="), let end = header.firstIndex(of: ";") else { return nil }
    return String(header[header.index(header.startIndex, offsetBy: "JSESSIONID=".count)..<end])
}

/// Runs `body` against a fresh node on 127.0.0.1:0 and always closes the node and its event loop group,
/// also when `body` fails, so no test leaks threads or sockets into the next.
private func withDemoServer(
    name: String = "node1",
    maxSessions: Int = DemoAppServer.defaultMaxSessions,
    _ body: (DemoAppServer, MultiThreadedEventLoopGroup) async throws -> Void
) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var failure: (any Error)?
    do {
        let server = try await DemoAppServer.start(name: name, host: "127.0.0.1", port: 0, group: group, maxSessions: maxSessions)
        #expect(server.port > 0)
        #expect(server.name == name)
        do { try await body(server, group) } catch { failure = error }
        do { try await server.close() } catch { failure = failure ?? error }
    } catch {
        failure = error
    }
    do { try await group.shutdownGracefully() } catch { failure = failure ?? error }
    if let failure { throw failure }
}

/// A tiny HTTP/1.1 client over NIO for the demo node's tests only (named so it cannot clash with other
/// helpers; shared with `DemoReplicationTests`).
enum DemoTestClient {
    /// Every connection is force-closed after this, so a server that never answers fails the test
    /// instead of hanging it.
    static let connectionDeadline: TimeAmount = .seconds(10)

    struct Request {
        var method: HTTPMethod
        var uri: String
        var headers: [(String, String)] = []
        var body: String? = nil
    }

    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: String
    }

    struct Outcome {
        var responses: [Response]
        /// True when the server closed the connection after the last response (only checked on request).
        var closedByServer: Bool
    }

    enum ClientError: Error {
        case connectionClosedEarly
        case unexpectedPart(String)
    }

    /// One request and its response on a connection of its own; the `cookies` become `Cookie` headers.
    static func get(
        _ uri: String,
        cookies: [String] = [],
        extraHeaders: [(String, String)] = [],
        port: Int,
        group: any EventLoopGroup
    ) async throws -> Response {
        let headers = cookies.map { ("Cookie", $0) } + extraHeaders
        return try await send(Request(method: .GET, uri: uri, headers: headers), port: port, group: group)
    }

    static func send(_ request: Request, port: Int, group: any EventLoopGroup) async throws -> Response {
        try await withConnection(port: port, group: group) { try await $0.send(request) }
    }

    /// Sends `requests` one after another on one kept-alive connection; with `sessionCookieCarriedOver`
    /// each request carries the session cookie the previous responses set, like a browser. With
    /// `waitForServerClose` it then waits (up to the connection deadline) for the server to hang up.
    static func exchange(
        _ requests: [Request],
        port: Int,
        group: any EventLoopGroup,
        sessionCookieCarriedOver: Bool = false,
        waitForServerClose: Bool = false
    ) async throws -> Outcome {
        try await withConnection(port: port, group: group) { connection in
            var responses: [Response] = []
            var cookie: String?
            for var request in requests {
                if sessionCookieCarriedOver, let cookie { request.headers.append(("Cookie", cookie)) }
                let response = try await connection.send(request)
                if let setCookie = response.headers["set-cookie"].first, let pair = setCookie.split(separator: ";").first {
                    cookie = String(pair)
                }
                responses.append(response)
            }
            let closed = waitForServerClose ? try await connection.waitForServerClose() : false
            return Outcome(responses: responses, closedByServer: closed)
        }
    }

    static func withConnection<Result>(
        port: Int,
        group: any EventLoopGroup,
        _ body: (Connection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    channel.eventLoop.scheduleTask(in: connectionDeadline) { channel.close(promise: nil) }
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var result: Result?
        do {
            try await channel.executeThenClose { inbound, outbound in
                result = try await body(Connection(inbound: inbound.makeAsyncIterator(), outbound: outbound))
            }
        } catch let error as ChannelError where result != nil && (error == .ioOnClosedChannel || error == .alreadyClosed) {
            // The server hung up first (e.g. after `Connection: close`); closing our side then races it.
        }
        guard let result else { throw ClientError.connectionClosedEarly }
        return result
    }

    /// One open connection, used from one task at a time.
    final class Connection {
        private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
        private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

        init(
            inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
            outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
        ) {
            self.inbound = inbound
            self.outbound = outbound
        }

        func send(_ request: Request) async throws -> Response {
            var headers = HTTPHeaders(request.headers)
            headers.add(name: "Host", value: "127.0.0.1")
            let body = request.body.map { ByteBuffer(string: $0) }
            if let body { headers.add(name: "Content-Length", value: String(body.readableBytes)) }
            try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: request.method, uri: request.uri, headers: headers)))
            if let body { try await outbound.write(.body(.byteBuffer(body))) }
            do {
                try await outbound.write(.end(nil))
            } catch let error as ChannelError where error == .ioOnClosedChannel {
                // A bodiless request is complete with its head, so a server that answers and hangs up
                // (`Connection: close`) can beat the client's empty end-of-request write. The response is
                // already in the inbound stream.
            }

            guard case .head(let head)? = try await inbound.next() else { throw ClientError.connectionClosedEarly }
            var collected = ByteBuffer()
            while true {
                switch try await inbound.next() {
                case .body(var chunk)?: collected.writeBuffer(&chunk)
                case .end?: return Response(status: head.status, headers: head.headers, body: String(buffer: collected))
                case .head?: throw ClientError.unexpectedPart("second response head")
                case nil: throw ClientError.connectionClosedEarly
                }
            }
        }

        /// True if the server closes the connection (before the client's deadline) without sending more.
        func waitForServerClose() async throws -> Bool {
            do {
                return try await inbound.next() == nil
            } catch let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed {
                return true  // closed under us: that is the server hanging up too
            }
        }
    }
}

/// The demo switches' query parsing, without a server.
@Suite("Demo switches: query parsing")
struct DemoQueryTests {
    @Test(arguments: [
        ("/demo/crash", 20), ("/demo/crash?seconds=5", 5), ("/demo/crash?x=1&seconds=300#top", 300),
        ("/demo/crash?seconds=1&seconds=2", 2),
    ])
    func crashSeconds(_ uri: String, _ seconds: Int) {
        #expect(DemoCrashRequest.seconds(in: uri) == seconds)
    }

    @Test(arguments: ["/demo/crash?seconds=0", "/demo/crash?seconds=301", "/demo/crash?seconds=x", "/demo/crash?seconds", "/demo/crash?seconds=5&seconds="])
    func badCrashSeconds(_ uri: String) {
        #expect(DemoCrashRequest.seconds(in: uri) == nil)
    }

    @Test(arguments: [
        ("/demo/announce?state=draining", "draining"), ("/demo/announce?state&state=active", "active"),
        ("/demo/announce?state=sleeping", nil), ("/demo/announce", nil), ("/demo/announce?state=maintenance#x", "maintenance"),
    ] as [(String, String?)])
    func announceState(_ uri: String, _ state: String?) {
        #expect(DemoAnnounceRequest.state(in: uri) == state)
    }
}
