import LatchCore
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP1

/// The client side of one connection (or HTTP/2 stream): a thin shell around two state machines.
/// ``ClientConnectionStateMachine`` says what each inbound event means for the connection;
/// ``ExchangeStateMachine`` (in ``Exchange``) carries one request from its head to the end of its
/// response. This class feeds them the channel's and the node connection's events and performs what
/// they return: routing, leasing, writing, bookkeeping.
///
/// On an HTTP/1 connection it is the only handler on the client's bytes (behind TLS, if any): it
/// parses them itself (``HTTP1RequestParser``) and keeps the connection's deadlines
/// (``ClientDeadlines``); each handler a read crosses costs a type-erased hop, and a read, its
/// completion, a read request and a write cross every one. On an HTTP/2 stream it is in no pipeline:
/// its ``HTTP2Stream`` hands it the request as parts and carries its reads, resets and writability,
/// and its context is the connection's (``HTTP2Connection``), which its writer writes frames through.
///
/// Backpressure follows swift-nio-examples' GlueHandler: the client's reads go through only while the
/// upstream connection is writable, and the upstream handler reads the response only while this
/// client connection is writable. Memory stays flat for any body size.
///
/// Responses leave through a ``ResponseWriter``: bytes on an HTTP/1 connection, `HTTPServerResponsePart`s
/// on an HTTP/2 stream; the writer declares which. Nothing else writes through this handler.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate, NIOScheduledCallbackHandler, HTTP2StreamReader {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never
    typealias OutboundOut = Never

    let holder: RuntimeHolder
    /// The runtime of the current (or last) exchange; refreshed from `holder` when an exchange starts,
    /// so a reload reaches open keep-alive connections at their next request.
    var runtime: ProxyRuntime
    /// ``RuntimeHolder/generation`` when ``runtime`` was last looked up.
    var runtimeGeneration: Int
    var deadlines: ClientDeadlines
    /// Whether the connection carries bytes (HTTP/1), so a 408 can be written as bytes; an HTTP/2
    /// stream is closed instead.
    private let writesBytes: Bool
    /// The HTTP/1 request parser; `nil` on an HTTP/2 stream, whose parts come parsed.
    private var parser: HTTP1RequestParser?
    /// The start of a request part that has not all arrived (or, after an upgrade request, what the
    /// client sent behind it: the tunnel's first bytes).
    var unparsed: ByteBuffer?
    /// The parser refused the client's bytes: nothing after them is parsed.
    private var parseFailed = false
    let scheme: String
    /// A plain listener's `redirect_to_https`: every request is answered with a redirect there.
    let redirectToHTTPS: Int?
    var context: ChannelHandlerContext?
    var pool: UpstreamPool?
    var clientAddress = "-"
    var clientIP: String?
    /// Shutdown's grace ran out while this connection was busy (``ShutdownGraceOverEvent``).
    private var cutByShutdown = false

    var client = ClientConnectionStateMachine()
    var exchange: Exchange?
    let writer: any ResponseWriter
    /// Request bytes were written upstream since the last flush.
    var upstreamNeedsFlush = false
    /// A read of the client's bytes is being handled: upstream writes wait for its end
    /// (`channelReadComplete`) and leave in one flush.
    var inClientRead = false
    /// The loop's time at the event being handled (a client's bytes, a node's response end), read
    /// once for every deadline and timestamp the event sets: a clock read costs about 30 ns, and a
    /// request used to make five. `nil` outside such an event: then each use reads the clock.
    var eventTime: NIODeadline?

    /// ``eventTime``, or the loop's clock outside an event: the clock every exchange time is read from.
    func eventNow(_ context: ChannelHandlerContext) -> NIODeadline {
        eventTime ?? context.eventLoop.now
    }

    /// The address a PROXY protocol header gave; `nil`: the peer's own.
    private let proxiedClient: SocketAddress?
    /// The HTTP/2 stream this handler serves; `nil` on an HTTP/1 connection. Closing, reading and
    /// writability are the stream's, not the connection's.
    let stream: HTTP2Stream?

    /// - Parameters:
    ///   - parsing: the limits of HTTP/1 requests parsed from bytes; `nil` for an HTTP/2 stream.
    ///   - client: the client's address as a PROXY protocol header gave it; `nil`: the peer's.
    init(
        holder: RuntimeHolder, parsing limits: HTTP1RequestParser.Limits?, writer: any ResponseWriter, scheme: String = "http",
        redirectToHTTPS: Int? = nil, client: SocketAddress? = nil, stream: HTTP2Stream? = nil
    ) {
        self.proxiedClient = client
        self.stream = stream
        self.holder = holder
        self.writer = writer
        self.runtimeGeneration = holder.generation
        self.runtime = holder.current
        self.parser = limits.map(HTTP1RequestParser.init(limits:))
        self.writesBytes = limits != nil
        self.deadlines = ClientDeadlines(requestHead: runtime.timeouts.requestHead, idle: runtime.timeouts.idle, stream: stream != nil)
        self.scheme = scheme
        self.redirectToHTTPS = redirectToHTTPS
    }

    func handlerAdded(context: ChannelHandlerContext) {
        attach(context)
    }

    /// An HTTP/2 stream opened: `context` is its connection's.
    func streamOpened(on context: ChannelHandlerContext) {
        attach(context)
    }

    private func attach(_ context: ChannelHandlerContext) {
        self.context = context
        self.pool = runtime.pool(for: context.eventLoop)
        parser?.tables = pool?.buffers
        if let peer = stream?.connection.peer(context) {
            (clientIP, clientAddress) = peer
        } else if let remote = proxiedClient ?? context.channel.remoteAddress {
            clientIP = remote.ipAddress
            clientAddress = SocketAddress.display(remote)
        }
        // The first head's deadline runs from the accept (as HAProxy's `timeout http-request`).
        if context.channel.isActive { deadlines.activated(on: context.eventLoop, self) }
        // Accepted as shutdown began (after the registry told the open connections): the same rule.
        // An HTTP/2 connection's GOAWAY covers its streams.
        if stream == nil, holder.isQuiescing { quiesce(context: context) }
    }

    /// The HTTP/2 stream is over (``HTTP2Stream/closed()``): as a connection's `channelInactive` and
    /// `handlerRemoved` together.
    func streamClosed() {
        guard let context else { return }
        channelInactive(context: context)
        handlerRemoved(context: context)
    }

    /// Ends the client's side: the connection on HTTP/1, only this stream on HTTP/2.
    func closeClient(_ context: ChannelHandlerContext) {
        if let stream { stream.reset() } else { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlines.stop()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        deadlines.activated(on: context.eventLoop, self)
        context.fireChannelActive()
    }

    /// The deadline timer fired (``ClientDeadlines``).
    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard let context else { return }
        switch deadlines.fired(on: context.eventLoop, self, holdingReads: client.readPending) {
        case .none:
            break
        case .head:
            runtime.logger.info("request head timeout, closing", metadata: ["client": "\(clientAddress)"])
            if writesBytes {
                // The whole response as bytes (RFC 9110 §15.5.9). Closed at once, not when the write
                // completes: on a TLS connection whose client never finished its handshake the write
                // waits for the handshake forever. On a plain or established one the answer is already
                // in the socket (or the client is not reading).
                let buffer = RawResponse.closing(
                    408, "Request Timeout", detail: "the request head did not arrive in time", allocator: context.channel.allocator)
                context.writeAndFlush(NIOAny(buffer), promise: nil)
            }
            closeClient(context)
        case .body:
            requestBodyTimedOut()
        case .idle:
            closeClient(context)
        }
    }

    // MARK: - Client → upstream

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let outerTime = eventTime
        let now = outerTime ?? context.eventLoop.now
        eventTime = now
        defer { eventTime = outerTime }
        deadlines.bytesArrived(at: now, on: context.eventLoop, self)
        var bytes = unwrapInboundIn(data)
        if parseFailed {
            // Nothing after refused bytes is parsed. While lingering they are read and dropped (up
            // to a limit); otherwise the connection is already closing.
            if client.isLingering, !client.droppedAfterParseError(bytes.readableBytes) { return }
            context.close(promise: nil)
            return
        }
        if var earlier = unparsed {
            unparsed = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        inClientRead = true
        defer { inClientRead = false }
        do {
            while let part = try parser?.next(&bytes) {
                perform(client.received(part), context: context)
            }
        } catch {
            parseFailed = true
            parseError(error, replaying: false, context: context)
            return
        }
        guard bytes.readableBytes > 0 else { return }
        bytes = UpstreamHandler.compacted(bytes, context)
        // Behind an upgrade request the parser has stopped: what the client sends before the node's
        // answer waits here for the tunnel, but only as much as a request head may take.
        if let parser, parser.isUpgraded, bytes.readableBytes > parser.limits.maxRawHead {
            runtime.logger.info("too many bytes before the upgrade was answered, closing", metadata: ["client": "\(clientAddress)"])
            context.close(promise: nil)
            return
        }
        unparsed = bytes
    }

    /// A part of an HTTP/2 stream's request (``HTTP2Stream``): its head's header block read as
    /// an HTTP/1 head's fields would be (``ClientRequestHead/init(http2:endStream:)``).
    func received(_ part: HTTP2RequestPart) {
        guard let context else { return }
        let outerTime = eventTime
        let now = outerTime ?? context.eventLoop.now
        eventTime = now
        defer { eventTime = outerTime }
        deadlines.bytesArrived(at: now, on: context.eventLoop, self)
        inClientRead = true
        defer { inClientRead = false }
        switch part {
        case .head(let block, let endStream):
            let head: ClientRequestHead
            do {
                head = try ClientRequestHead(http2: block, endStream: endStream)
            } catch {
                parseError(error, replaying: false, context: context)
                return
            }
            // The handshake is the whole request (RFC 8441 §5); the stream's DATA is the tunnel's. Marked
            // first: an answer Latch gives at once must end the stream too.
            if head.webSocketOverHTTP2 { stream?.awaitTunnel() }
            perform(client.received(.head(head)), context: context)
            if head.webSocketOverHTTP2, self.context != nil {
                perform(client.received(.end(nil)), context: context)
            }
        case .body(let bytes):
            perform(client.received(.body(bytes)), context: context)
        case .end(let trailers):
            perform(client.received(.end(trailers)), context: context)
        }
    }

    private func perform(_ action: ClientConnectionStateMachine.PartAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .close:
            closeClient(context)
        case .startExchange(let head):
            deadlines.requestHeadReceived(bodyFollows: MessageFraming.requestHasBody(head), at: eventTime, on: context.eventLoop, self)
            startExchange(head, context: context)
        case .forward(.body(let buffer)):
            guard let exchange else { return }
            exchange.requestBodyBytes += buffer.readableBytes
            // Only a chunked body can get here over the limit: an announced length was checked with the head.
            if exchange.requestBodyBytes > runtime.config.limits.maxBody {
                refuseMidRequest(exchange, RequestRejection(status: .payloadTooLarge, message: "the request body is larger than \(runtime.config.limits.maxBody) bytes"))
                return
            }
            send(.body(.byteBuffer(buffer)), on: exchange)
        case .forward(.end(let trailers)):
            deadlines.requestEnded()
            guard let exchange else { return }
            send(.end(trailers), on: exchange)
        case .forward(.head):
            break
        }
    }

    private func send(_ part: HTTPClientRequestPart, on exchange: Exchange) {
        guard exchange.machine.requestPart(part), let upstream = exchange.upstream else { return }
        guard !isUnframedBody(part, on: upstream) else {
            refuseMidRequest(exchange, Self.unframedBody)
            return
        }
        if upstream.handler.write(part) { upstreamNeedsFlush = true }
    }

    /// Body bytes for a request whose head framed none (an HTTP/2 GET with DATA and no
    /// `content-length`, say): refused, never written — the node would read them as another request.
    func isUnframedBody(_ part: HTTPClientRequestPart, on upstream: UpstreamConnection) -> Bool {
        guard case .body(.byteBuffer(let bytes)) = part, bytes.readableBytes > 0 else { return false }
        return !upstream.handler.framesBody
    }

    static let unframedBody = RequestRejection(
        status: .badRequest, message: "a request body without Content-Length, which this request's method does not carry")

    /// Not passed on: this handler is the last of its pipeline (``ClientPipeline``), where the event
    /// would only walk to NIO's tail, which ignores it (about 140 instructions a read).
    func channelReadComplete(context: ChannelHandlerContext) {
        flushUpstreamIfNeeded()
    }

    func flushUpstreamIfNeeded() {
        if upstreamNeedsFlush, let upstream = exchange?.upstream {
            upstreamNeedsFlush = false
            upstream.handler.flush()
        }
    }

    /// Holds the client's reads while the upstream is being connected or cannot take more bytes, and
    /// while pipelined requests wait for their turn.
    func read(context: ChannelHandlerContext) {
        if mayRead() { context.read() }
    }

    /// Whether the client's next bytes may come now; if not, a read is owed (``resumeClientReads()``).
    func mayRead() -> Bool {
        let streaming = exchange.map { !$0.machine.requestEnded } ?? false
        let ready = exchange?.upstream?.handler.isWritable ?? false
        return client.readRequested(requestStreaming: streaming, upstreamReady: ready)
    }

    func resumeClientReads() {
        guard let context, client.takePendingRead() else { return }
        readClient(context)
    }

    /// Reads the client's next bytes, or the stream's next frames, if they may come now.
    func readClient(_ context: ChannelHandlerContext) {
        guard let stream else {
            read(context: context)
            return
        }
        if mayRead() { stream.resume() }
    }

    /// An HTTP/2 stream's read ended: what it sent upstream leaves in one flush.
    func readComplete() {
        flushUpstreamIfNeeded()
    }

    /// Replays what was held behind the response that just ended, in order, up to the next request
    /// head that must wait in turn; then reads resume if nothing is left waiting.
    func deliverHeld(_ context: ChannelHandlerContext) {
        while let event = client.nextHeld() {
            switch event {
            case .part(let part): perform(client.replay(part), context: context)
            case .parseError(let error): parseError(error, replaying: true, context: context)
            case .inputClosed: inputClosed(replaying: true, context: context)
            }
        }
        flushUpstreamIfNeeded()
        if !client.hasHeld { resumeClientReads() }
    }

    // MARK: - Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { clientWritable() }
        context.fireChannelWritabilityChanged()
    }

    /// The client takes more again: the node's response may be read on.
    func clientWritable() {
        exchange?.upstream?.handler.resumeReading()
    }

    /// An HTTP/2 stream's part of ``ShutdownGraceOverEvent``.
    func shutdownGraceOver() {
        cutByShutdown = true
    }

    private func inputClosed(replaying: Bool, context: ChannelHandlerContext) {
        perform(client.inputClosed(replaying: replaying), context: context)
    }

    private func perform(_ action: ClientConnectionStateMachine.CloseAction, context: ChannelHandlerContext) {
        switch action {
        case .none: break
        case .close: closeClient(context)
        case .closeAfterResponse: exchange?.machine.closeAfterResponse()
        case .closeIfQuiet: deadlines.closeIfQuiet(within: ClientConnectionStateMachine.quietWindow, on: context.eventLoop, self)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            // The client ended its side in the middle of a request (RFC 9112 §8: an incomplete message).
            if !parseFailed, parser?.isInMessage(buffered: unparsed?.readableBytes ?? 0) == true {
                parseFailed = true
                parseError(HTTPParserError.invalidEOFState, replaying: false, context: context)
            }
            inputClosed(replaying: false, context: context)
        case is ChannelShouldQuiesceEvent:
            quiesce(context: context)
        case is ShutdownGraceOverEvent:
            // The close that follows ends the exchange in flight: Latch's doing, not the client's.
            cutByShutdown = true
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Shutdown or a take-over: see ``ClientConnectionStateMachine/quiesce(headUnderway:)``.
    private func quiesce(context: ChannelHandlerContext) {
        guard !client.quiescing else { return }
        let headUnderway = !parseFailed && parser?.isInMessage(buffered: unparsed?.readableBytes ?? 0) == true
        perform(client.quiesce(headUnderway: headUnderway), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlines.stop()
        _ = client.closed()
        if let exchange {
            exchange.machine.abandoned(cutByShutdown ? .cutByShutdown : .clientClosed)
            finish(exchange, upstreamReusable: false)
        }
        if stream == nil { context.fireChannelInactive() }
    }

    /// The channel failed (parse errors are this handler's own: ``parseError(_:replaying:context:)``).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !client.isLingering {
            runtime.logger.debug("client connection error", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
        }
        context.close(promise: nil)
    }

    /// The request parser refused the client's bytes (``ParseErrorAnswer`` says with what).
    private func parseError(_ error: any Error, replaying: Bool, context: ChannelHandlerContext) {
        let parseError: HTTPParserError
        let answer: ParseErrorAnswer
        if let malformed = error as? HTTP2MalformedRequest {
            parseError = .invalidHeaderToken
            answer = ParseErrorAnswer(malformed)
        } else if let error = error as? HTTPParserError {
            parseError = error
            answer = ParseErrorAnswer(error)
        } else {
            return
        }
        let action = client.parseError(parseError, answers: answer.answers, replaying: replaying)
        guard action != .held else { return }
        runtime.metrics.requestRefused(answer.metricReason)
        stream?.connection.noteMalformed()
        runtime.logger.info(
            "malformed request, closing",
            metadata: ["client": "\(clientAddress)", "error": "\(parseError.debugDescription)"]
        )
        switch action {
        case .held, .none:
            break
        case .close:
            closeClient(context)
        case .refuseExchange:
            guard let exchange else { return }
            if exchange.machine.requestEnded {
                // The bytes after a complete request: it is answered, then the connection closes.
                client.closeAfterResponse()
                exchange.machine.closeAfterResponse()
            } else {
                // The error is in this request's body (a bad chunk): the node must not get the rest.
                refuseMidRequest(exchange, RequestRejection(status: answer.status, message: answer.message))
            }
        case .answer:
            runtime.accessLog.record(
                ExchangeOutcome(reason: "rejected", status: Int(answer.status.code), error: answer.message).entry(client: clientAddress)
            )
            // The client may still be sending the rest of what the parser refused (a head far over
            // the limit): linger, so the answer is not destroyed by a reset.
            respond(LocalResponse(status: answer.status, detail: answer.message, keepAlive: false), version: .http1_1, requestUnread: true, context: context)
        }
    }
}
