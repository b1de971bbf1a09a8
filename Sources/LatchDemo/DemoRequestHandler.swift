import NIOCore
import NIOHTTP1

/// Answers HTTP/1.1 requests the way one sticky Tomcat node would: continue the session the client
/// presents if this node owns it, otherwise start one and set the cookie.
///
/// One instance per connection; it sits after `configureHTTPServerPipeline()`, whose pipelining helper
/// hands it one request at a time, so a single "current request" slot is enough.
final class DemoRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let sessions: SessionStore
    private var node: String { sessions.node }
    private var request: HTTPRequestHead?
    /// Bytes of the current request body; counted rather than kept, so uploads cost no memory.
    private var bodyBytes = 0

    init(sessions: SessionStore) {
        self.sessions = sessions
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
        var headers = HTTPHeaders()
        let body: String
        if SessionIDParsing.routedPath(of: head.uri) == "/health" {
            // Health checks must not create sessions, or a proxy probing every second would fill the table.
            body = "ok\n"
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else {
            let visit = sessions.visit(candidates: SessionIDParsing.candidates(headers: head.headers, uri: head.uri))
            if visit.isNew {
                headers.add(name: "Set-Cookie", value: "\(SessionIDParsing.cookieName)=\(visit.id); Path=/; HttpOnly")
            }
            if Self.acceptsHTML(head.headers) {
                body = DemoPage.html(node: node, visit: visit, bodyBytes: bodyBytes)
                headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
            } else {
                body = DemoPage.plainText(node: node, visit: visit, bodyBytes: bodyBytes)
                headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            }
            // Every answer depends on the session; a cache in between would hide which node answered.
            headers.add(name: "Cache-Control", value: "no-store")
        }
        headers.add(name: "X-Demo-Node", value: node)

        let buffer = context.channel.allocator.buffer(string: body)
        // HEAD gets the Content-Length the GET body would have, as RFC 9110 asks, but no body.
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))

        let keepAlive = head.isKeepAlive
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if head.version == .http1_0 {
            // HTTP/1.0 closes by default, so a kept-alive 1.0 connection must say so explicitly.
            headers.add(name: "Connection", value: "keep-alive")
        }

        let version: HTTPVersion = head.version == .http1_0 ? .http1_0 : .http1_1
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))), promise: nil)
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
