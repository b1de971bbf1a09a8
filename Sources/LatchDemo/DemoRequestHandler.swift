import NIOCore
import NIOHTTP1

/// Answers HTTP/1.1 requests the way one sticky Tomcat node would: continue the session the client
/// presents if this node holds it (its own, or a copy it keeps as a replica), otherwise start one and
/// set the cookie. Also serves `/health` and the `/demo/crash` switch.
///
/// One instance per connection; it sits after `configureHTTPServerPipeline()`, whose pipelining helper
/// hands it one request at a time, so a single "current request" slot is enough.
final class DemoRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let node: DemoNode
    private var name: String { node.name }
    private var request: HTTPRequestHead?
    /// Bytes of the current request body; counted rather than kept, so uploads cost no memory.
    private var bodyBytes = 0

    init(node: DemoNode) {
        self.node = node
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            bodyBytes = 0
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
        case .end:
            // Answer only once the whole request is read, so the body never lands in the next request.
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Malformed HTTP is answered with 400 by the protocol error handler ahead of us; anything reaching
        // here is a connection-level failure, and a demo node has nothing better to do than hang up.
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        switch SessionIDParsing.routedPath(of: head.uri) {
        case "/health":
            // Health checks must not create sessions, or a proxy probing every second would fill the table.
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: DemoAnnounceRequest.header, value: node.announced)
            send(.ok, headers: headers, body: "ok\n", for: head, context: context)
        case DemoCrashRequest.path:
            crash(for: head, context: context)
        case DemoAnnounceRequest.path:
            announce(for: head, context: context)
        default:
            page(for: head, context: context)
        }
    }

    private func page(for head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        let visit = node.visit(candidates: SessionIDParsing.candidates(headers: head.headers, uri: head.uri))
        if visit.isNew {
            headers.add(name: "Set-Cookie", value: "\(SessionIDParsing.cookieName)=\(visit.id); Path=/; HttpOnly")
        }
        let body: String
        if Self.acceptsHTML(head.headers) {
            body = DemoPage.html(node: name, visit: visit, bodyBytes: bodyBytes)
            headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
        } else {
            body = DemoPage.plainText(node: name, visit: visit, bodyBytes: bodyBytes)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        // Every answer depends on the session; a cache in between would hide which node answered.
        headers.add(name: "Cache-Control", value: "no-store")
        send(.ok, headers: headers, body: body, for: head, context: context)
    }

    /// `POST /demo/crash?seconds=N`: 202 and down. POST only, so a crawler or a browser prefetching
    /// links cannot take a node down.
    private func crash(for head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard var headers = postOnly(head, usage: "\(DemoCrashRequest.path)?seconds=N", context: context) else { return }
        guard let seconds = DemoCrashRequest.seconds(in: head.uri) else {
            let body = "seconds must be a whole number from 1 to \(DemoCrashRequest.maxSeconds)\n"
            send(.badRequest, headers: headers, body: body, for: head, context: context)
            return
        }
        guard let down = node.crash(for: seconds, keeping: context.channel) else {
            send(.conflict, headers: headers, body: "\(name) is already down\n", for: head, context: context)
            return
        }
        // A browser that pressed the page's button comes back to the page by itself, and sees the replica.
        headers.add(name: "Refresh", value: "3; url=/")
        let body = "\(name) crashed: down for \(seconds) s, then back with no sessions\n"
        // Answer only once the listener is closed, so a client holding the 202 finds the node down.
        down.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
            self.send(.accepted, headers: headers, body: body, for: head, closing: true, context: context)
        }
    }

    /// `POST /demo/announce?state=S`: from the next health check on, the node announces S.
    private func announce(for head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let headers = postOnly(head, usage: "\(DemoAnnounceRequest.path)?state=draining", context: context) else { return }
        guard let state = DemoAnnounceRequest.state(in: head.uri) else {
            let body = "state must be one of \(DemoAnnounceRequest.states.joined(separator: ", "))\n"
            send(.badRequest, headers: headers, body: body, for: head, context: context)
            return
        }
        node.announced = state
        let body = "\(name) announces \(state) in \(DemoAnnounceRequest.header) from its next health check on\n"
        send(.ok, headers: headers, body: body, for: head, context: context)
    }

    /// The plain-text headers of a switch's answer when the request is a POST; otherwise answers 405
    /// (switches change state, so a crawler or a prefetching browser must not pull them) and returns nil.
    private func postOnly(_ head: HTTPRequestHead, usage: String, context: ChannelHandlerContext) -> HTTPHeaders? {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Cache-Control", value: "no-store")
        guard head.method == .POST else {
            headers.add(name: "Allow", value: "POST")
            send(.methodNotAllowed, headers: headers, body: "use POST \(usage)\n", for: head, context: context)
            return nil
        }
        return headers
    }

    /// Writes one whole response; adds `X-Demo-Node`, `Content-Length` and the `Connection` header the
    /// request's keep-alive needs. `closing` hangs up after it whatever the client asked.
    private func send(
        _ status: HTTPResponseStatus,
        headers: HTTPHeaders,
        body: String,
        for head: HTTPRequestHead,
        closing: Bool = false,
        context: ChannelHandlerContext
    ) {
        var headers = headers
        headers.add(name: "X-Demo-Node", value: name)
        let buffer = context.channel.allocator.buffer(string: body)
        // HEAD gets the Content-Length the GET body would have, as RFC 9110 asks, but no body.
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))

        let keepAlive = head.isKeepAlive && !closing
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if head.version == .http1_0 {
            // HTTP/1.0 closes by default, so a kept-alive 1.0 connection must say so explicitly.
            headers.add(name: "Connection", value: "keep-alive")
        }

        let version: HTTPVersion = head.version == .http1_0 ? .http1_0 : .http1_1
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            // Close only after the response is on the wire; `Channel` is Sendable, the context is not.
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Browsers send `Accept: text/html,...`; curl and most clients do not, and get the plain line.
    static func acceptsHTML(_ headers: HTTPHeaders) -> Bool {
        headers["accept"].contains { $0.lowercased().contains("text/html") }
    }
}

/// Handlers belong to one channel's event loop; say so, rather than let them drift across threads.
@available(*, unavailable)
extension DemoRequestHandler: Sendable {}
