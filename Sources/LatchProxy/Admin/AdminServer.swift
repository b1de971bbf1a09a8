import Foundation
import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener: `GET /` (the status page), `GET /api/status`, `POST /api/nodes/{cluster}/{node}/state`.
/// Its own address, never one of the proxy's listeners; off unless `admin:` is configured. Anything that
/// changes state needs `Authorization: Bearer <token>` when `token_file` is set.
public final class AdminServer: Sendable {
    private let server: ProxyServer
    private let config: AdminConfig
    private let token: String?
    private let logger: Logger
    private let channel: NIOLockedValueBoxChannel
    private let boundSocket = NIOLockedValueBox<(address: HostPort, descriptor: NIOBSDSocket.Handle)?>(nil)
    private let reloader: Reloader?

    /// - Parameter reloader: serves `POST /api/reload` (what `latch reload` calls); `nil` answers 404.
    public init(server: ProxyServer, config: AdminConfig, logger: Logger, reloader: Reloader? = nil) throws {
        self.server = server
        self.config = config
        self.logger = logger
        self.reloader = reloader
        if let path = config.tokenFile {
            let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw AdminError.emptyToken(path) }
            self.token = text
        } else {
            self.token = nil
        }
        self.channel = NIOLockedValueBoxChannel()
    }

    enum AdminError: Error, CustomStringConvertible {
        case emptyToken(String)
        var description: String {
            switch self {
            case .emptyToken(let path): "admin token file \(path) is empty"
            }
        }
    }

    /// Binds the admin address, or serves `inherited` (the socket of the Latch this one takes
    /// over); returns the address (port 0 gets a real port).
    @discardableResult
    public func start(group: any EventLoopGroup, inheriting inherited: NIOBSDSocket.Handle? = nil) async throws -> SocketAddress {
        let router = AdminRouter(server: server, token: token, logger: logger, reloader: reloader, admin: config)
        let bound: any Channel
        let descriptor: NIOBSDSocket.Handle
        do {
            descriptor = try inherited ?? ListeningSocket.open(config.address)
            let logger = self.logger
            let listener = config.address.description
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.autoRead, value: inherited == nil)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(AcceptControl(paused: inherited != nil, listener: listener, logger: logger))
                    }
                }
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.configureHTTPServerPipeline(withErrorHandling: true)
                        try sync.addHandler(NIOHTTPServerRequestAggregator(maxContentLength: 64 * 1024))
                        try sync.addHandler(AdminHandler(router: router))
                    }
                }
            bound = try await ListeningSocket.serve(bootstrap, on: descriptor)
        } catch {
            throw ListenError(address: config.address, reason: describeNetworkError(error))
        }
        channel.set(bound)
        boundSocket.withLockedValue { $0 = (config.address, descriptor) }
        logger.info(inherited == nil ? "admin listening" : "admin listening (socket taken over)", metadata: ["address": "\(bound.localAddress.map(SocketAddress.display) ?? "?")"])
        return bound.localAddress!
    }

    public func stop() async {
        boundSocket.withLockedValue { $0 = nil }
        if let bound = channel.take() { try? await bound.close() }
    }

    /// Accepts on a socket taken over (see ``ProxyServer/resumeAccepting()``).
    public func resumeAccepting() async {
        await setAccepting(true)
    }

    /// See ``ProxyServer/pauseAccepting()``.
    func pauseAccepting() async {
        await setAccepting(false)
    }

    private func setAccepting(_ accepting: Bool) async {
        guard let bound = channel.current() else { return }
        await AcceptControl.set(accepting, on: bound)
    }

    /// A copy of the listening socket (the caller closes it), while open, for a take-over.
    func listeningSocketCopy() -> (address: HostPort, descriptor: NIOBSDSocket.Handle, kind: TakeOverMessage.Socket.Kind)? {
        boundSocket.withLockedValue { socket in
            guard let socket else { return nil }
            let copy = fcntl(socket.descriptor, F_DUPFD_CLOEXEC, 0)
            return copy < 0 ? nil : (socket.address, copy, .admin)
        }
    }
}

/// A lock-protected optional channel (the bound listener).
final class NIOLockedValueBoxChannel: Sendable {
    private let box = NIOLockedValueBox<(any Channel)?>(nil)
    func set(_ channel: any Channel) { box.withLockedValue { $0 = channel } }
    func current() -> (any Channel)? { box.withLockedValue { $0 } }
    func take() -> (any Channel)? {
        box.withLockedValue { value in
            defer { value = nil }
            return value
        }
    }
}

/// Answers one aggregated admin request. Pure apart from the server it reads and changes.
struct AdminRouter: Sendable {
    let server: ProxyServer
    let token: String?
    let logger: Logger
    var reloader: Reloader? = nil
    /// The admin listener's own settings (its address and `hosts`), for the Host check.
    var admin = AdminConfig()

    struct Reply {
        var status: HTTPResponseStatus
        var contentType: String
        var body: Data
        var headers: [(String, String)] = []

        static func json(_ status: HTTPResponseStatus, _ object: [String: String]) -> Reply {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return Reply(status: status, contentType: "application/json", body: data + Data("\n".utf8))
        }
    }

    /// What a method other than GET (or HEAD, which gets GET's head) is answered with on a read-only resource.
    static let getOnly = Reply.json(.methodNotAllowed, ["error": "use GET"]).with(header: ("Allow", "GET, HEAD"))

    func reply(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: Data) -> Reply {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let parts = path.split(separator: "/").map(String.init)
        if parts == [] || parts == ["index.html"] {
            guard method == .GET || method == .HEAD else { return Self.getOnly }
            let now = Date()
            let page = StatusPage.html(StatusDocument.make(server.runtime.clusters, histories: server.histories, now: now), now: now)
            return Reply(status: .ok, contentType: "text/html; charset=utf-8", body: Data(page.utf8))
        }
        if parts == ["metrics"] {
            guard method == .GET || method == .HEAD else { return Self.getOnly }
            let text = server.metrics.exposition(
                clusters: server.runtime.clusters, listeners: server.config.listeners, certificates: server.certificatesInForce())
            return Reply(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Data(text.utf8))
        }
        if parts == ["api", "status"] {
            guard method == .GET || method == .HEAD else { return Self.getOnly }
            let document = StatusDocument.make(server.runtime.clusters, histories: server.histories)
            return Reply(status: .ok, contentType: "application/json", body: document.json())
        }
        if parts == ["api", "history"] {
            guard method == .GET || method == .HEAD else { return Self.getOnly }
            let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first
            let document = HistoryDocument.make(server.runtime.clusters, histories: server.histories, after: HistoryDocument.after(query: query))
            return Reply(status: .ok, contentType: "application/json", body: document.json())
        }
        if parts.count == 5, parts[0] == "api", parts[1] == "nodes", parts[4] == "state" {
            guard method == .POST else { return Reply.json(.methodNotAllowed, ["error": "use POST"]).with(header: ("Allow", "POST")) }
            let cluster = parts[2].removingPercentEncoding ?? parts[2]
            let node = parts[3].removingPercentEncoding ?? parts[3]
            return setState(cluster: cluster, node: node, headers: headers, body: body)
        }
        return Reply.json(.notFound, ["error": "no such admin resource: \(path)"])
    }

    /// `POST /api/reload`: whether this request is one (it is answered asynchronously), and if it may not
    /// proceed, the answer to give instead.
    func reloadRequest(method: HTTPMethod, uri: String, headers: HTTPHeaders) -> (isReload: Bool, refusal: Reply?) {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        guard path == "/api/reload" || path == "/api/reload/" else { return (false, nil) }
        guard reloader != nil else { return (true, Reply.json(.notFound, ["error": "reload is not available on this admin listener"])) }
        guard method == .POST else { return (true, Reply.json(.methodNotAllowed, ["error": "use POST"]).with(header: ("Allow", "POST"))) }
        if let refusal = authorize(headers) { return (true, refusal) }
        return (true, nil)
    }

    func reload() async -> Reply {
        guard let reloader else { return Reply.json(.notFound, ["error": "reload is not available"]) }
        let outcome = await reloader.reload()
        let object: [String: Any] = ["applied": outcome.applied, "message": outcome.message]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Reply(status: outcome.applied ? .ok : .unprocessableEntity, contentType: "application/json", body: data + Data("\n".utf8))
    }

    /// `nil` when the request names the admin listener by an allowed name (DNS rebinding guard, see
    /// ``AdminHostCheck``); else a 403 that says how to allow a name, without repeating the request's.
    func hostRefusal(_ headers: HTTPHeaders) -> Reply? {
        let hosts = headers[canonicalForm: "host"]
        guard hosts.count <= 1,
              AdminHostCheck.allows(host: hosts.first.map(String.init), listenHost: admin.address.host, extra: admin.hosts)
        else {
            return Reply.json(.forbidden, ["error": "the Host header does not name this admin listener; "
                + "reach it by IP address, localhost or a name listed in admin.hosts (a DNS rebinding guard)"])
        }
        return nil
    }

    /// `nil` when the request may change state. Besides the bearer token (when configured), a state
    /// change must be JSON and must not come from another site: without these, any web page the
    /// operator visits could POST a `text/plain` form to 127.0.0.1:9090 (CSRF, no preflight needed).
    private func authorize(_ headers: HTTPHeaders) -> Reply? {
        let contentType = headers.first(name: "content-type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            return Reply.json(.unsupportedMediaType, ["error": "state changes must be sent as Content-Type: application/json"])
        }
        if let site = headers.first(name: "sec-fetch-site")?.lowercased(), site != "same-origin", site != "none" {
            return Reply.json(.forbidden, ["error": "cross-site requests cannot change state"])
        }
        if let origin = headers.first(name: "origin"), let host = headers.first(name: "host"),
            !AdminRouter.origin(origin, matchesHost: host)
        {
            return Reply.json(.forbidden, ["error": "cross-origin requests cannot change state"])
        }
        if let token {
            let presented = headers.first(name: "authorization").flatMap { value -> String? in
                let prefix = "Bearer "
                guard value.count > prefix.count, value.prefix(prefix.count).lowercased() == prefix.lowercased() else { return nil }
                return String(value.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
            guard let presented, AdminRouter.constantTimeEquals(presented, token) else {
                return Reply.json(.unauthorized, ["error": "a valid bearer token is required to change state"])
                    .with(header: ("WWW-Authenticate", "Bearer realm=\"latch admin\""))
            }
        }
        return nil
    }

    private func setState(cluster: String, node: String, headers: HTTPHeaders, body: Data) -> Reply {
        if let refusal = authorize(headers) { return refusal }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let raw = object["state"] as? String
        else {
            return Reply.json(.badRequest, ["error": "expected a JSON body like {\"state\": \"draining\"}"])
        }
        guard let state = NodeState(rawValue: raw) else {
            return Reply.json(.badRequest, ["error": "unknown state \"\(raw)\"; use active, draining or maintenance"])
        }
        guard let previous = server.setNodeState(cluster: cluster, node: node, state) else {
            return Reply.json(.notFound, ["error": "no node \"\(node)\" in cluster \"\(cluster)\""])
        }
        return Reply.json(.ok, ["cluster": cluster, "node": node, "state": state.rawValue, "previous": previous.rawValue])
    }

    /// `http://127.0.0.1:9090` against `Host: 127.0.0.1:9090`.
    static func origin(_ origin: String, matchesHost host: String) -> Bool {
        guard let schemeEnd = origin.range(of: "://") else { return false }
        return origin[schemeEnd.upperBound...].lowercased() == host.lowercased()
    }

    /// Compares without stopping at the first difference, so response timing does not leak the token.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}

extension AdminRouter.Reply {
    func with(header: (String, String)) -> Self {
        var copy = self
        copy.headers.append(header)
        return copy
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = NIOHTTPServerRequestFull
    typealias OutboundOut = HTTPServerResponsePart

    let router: AdminRouter

    init(router: AdminRouter) {
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        if let refusal = router.hostRefusal(request.head.headers) {
            send(refusal, keepAlive: false, context: context)
            return
        }
        let reload = router.reloadRequest(method: request.head.method, uri: request.head.uri, headers: request.head.headers)
        if reload.isReload {
            if let refusal = reload.refusal {
                send(refusal, keepAlive: request.head.isKeepAlive, context: context)
                return
            }
            // Reloading binds listeners and reads a file: off the event loop, answered when done.
            let router = self.router
            let keepAlive = request.head.isKeepAlive
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            Task {
                let reply = await router.reload()
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.send(reply, keepAlive: keepAlive, context: context)
                }
            }
            return
        }
        // Built off the event loop, which the admin listener shares with proxied traffic: a day of
        // history or a large exposition takes a while to encode.
        let body = request.body.map { Data($0.readableBytesView) } ?? Data()
        let router = self.router
        let head = request.head
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        Task {
            let reply = router.reply(method: head.method, uri: head.uri, headers: head.headers, body: body)
            bound.eventLoop.execute {
                let (handler, context) = bound.value
                handler.send(reply, keepAlive: head.isKeepAlive, headOnly: head.method == .HEAD, context: context)
            }
        }
    }

    /// - Parameter headOnly: a HEAD request: GET's head, `Content-Length` included, and no body (RFC 9110 §9.3.2).
    private func send(_ reply: AdminRouter.Reply, keepAlive: Bool, headOnly: Bool = false, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: String(reply.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        // The status page's buttons must not be clickable through someone else's frame.
        headers.add(name: "X-Frame-Options", value: "DENY")
        headers.add(name: "Content-Security-Policy", value: "frame-ancestors 'none'")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        for (name, value) in reply.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        if !headOnly { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: reply.body)))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
