import LatchCore
import Logging
import NIOCore
import NIOHTTP1

/// The client side of one connection: routes each request, leases an upstream connection on the same
/// event loop, and relays both bodies with backpressure.
///
/// Backpressure follows swift-nio-examples' GlueHandler: this handler lets the client's reads through
/// only while the upstream connection is writable, and the upstream handler reads the response only
/// while this client connection is writable. Memory stays flat for any body size.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamDelegate {
    typealias InboundIn = HTTPServerRequestPart
    /// Responses leave as bytes Latch writes itself (``HTTPWire``), not through NIOHTTP1's encoder.
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let holder: RuntimeHolder
    /// The runtime of the current (or last) exchange; refreshed from `holder` when an exchange starts,
    /// so a reload reaches open keep-alive connections at their next request.
    private var runtime: ProxyRuntime
    private let deadlines: ClientDeadlineHandler
    private let scheme: String
    /// A plain listener's `redirect_to_https`: every request is answered with a redirect there.
    private let redirectToHTTPS: Int?
    /// HTTP/1 bytes on a connection, or one HTTP/2 stream (see ``ClientWire``).
    private let wire: ClientWire
    private var context: ChannelHandlerContext?
    private var pool: UpstreamPool?
    private var clientAddress = "-"
    private var clientIP: String?

    private var exchange: Exchange?
    /// A read was asked for while the upstream could not take more bytes.
    private var pendingRead = false
    /// Request body bytes were written upstream since the last flush.
    private var upstreamNeedsFlush = false
    /// Set when the connection must close after the current response (an error answered before the
    /// request body ended, `Connection: close`, a close-delimited response to an HTTP/1.0 client…).
    private var closing = false
    /// Output is closed after an early error answer; what the client still sends is read and dropped
    /// until it closes too or `lingerLimit` runs out (see ``lingeringClose(_:)``).
    private var lingering = false
    private var lingeredBytes = 0
    static let lingerLimit = (time: TimeAmount.seconds(10), bytes: 1024 * 1024)
    /// What arrived behind a request whose response is still under way (pipelining, RFC 9112 §9.3.2),
    /// in arrival order; replayed when that response has ended. Reads stop while anything is held.
    private var held: [HeldEvent] = []
    /// Response bytes gathered during one read from the node (head, small body parts, chunk framing),
    /// written as one buffer at the end of the read or when a large part comes.
    private var staged: ByteBuffer?
    /// Body parts up to this size are copied into `staged`; larger ones are written as they are.
    static let coalesceLimit = 16 * 1024

    /// An inbound event held back until the exchange before it has ended.
    private enum HeldEvent {
        case part(HTTPServerRequestPart)
        case error(any Error)
        case inputClosed
    }

    init(
        holder: RuntimeHolder,
        deadlines: ClientDeadlineHandler,
        scheme: String = "http",
        redirectToHTTPS: Int? = nil,
        wire: ClientWire = .http1
    ) {
        self.holder = holder
        self.runtime = holder.current
        self.deadlines = deadlines
        self.scheme = scheme
        self.redirectToHTTPS = redirectToHTTPS
        self.wire = wire
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.pool = runtime.pool(for: context.eventLoop)
        if let remote = context.channel.remoteAddress {
            clientIP = remote.ipAddress
            clientAddress = SocketAddress.display(remote)
        }
        // `unowned`, not `weak`: a weak reference gives an object a side table, which makes every
        // retain and release of it take the slow path — and NIO retains a handler for each event it
        // delivers. The deadline handler calls these only from its timer, which it cancels when the
        // channel goes inactive, before the pipeline (and this handler) goes away.
        deadlines.onHeadTimeout = { [unowned self] in
            self.runtime.logger.info("request head timeout, closing", metadata: ["client": "\(self.clientAddress)"])
        }
        deadlines.onBodyTimeout = { [unowned self] in
            self.requestBodyTimedOut()
        }
        deadlines.isHoldingReads = { [unowned self] in
            self.pendingRead
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: - Client → upstream

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering {
            if case .body(let buffer) = unwrapInboundIn(data) { lingeredBytes += buffer.readableBytes }
            if lingeredBytes > Self.lingerLimit.bytes { context.close(promise: nil) }
            return
        }
        let part = unwrapInboundIn(data)
        // Latch keeps reading while a response is under way — it sees a client's close at once and
        // never toggles read interest per request — so a pipelined request can arrive now: it waits.
        if !held.isEmpty || (exchange != nil && part.isHead) {
            held.append(.part(part))
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(var head):
            // After a response that said `Connection: close`, nothing more is served (RFC 9112 §9.6).
            guard !closing else { return }
            deadlines.requestHeadReceived()
            if wire == .http2 { ClientWire.joinCookies(&head.headers) }
            startExchange(head, context: context)
        case .body(let buffer):
            guard let exchange else { return }
            exchange.requestBodyBytes += buffer.readableBytes
            // Only a chunked body can get here over the limit: an announced length was checked with the head.
            if exchange.requestBodyBytes > runtime.config.limits.maxBody {
                refuseMidRequest(exchange, RequestRejection(status: .payloadTooLarge, message: "the request body is larger than \(runtime.config.limits.maxBody) bytes"))
                return
            }
            send(.body(.byteBuffer(buffer)), on: exchange)
        case .end(let trailers):
            deadlines.requestEnded()
            guard let exchange else { return }
            exchange.requestEnded = true
            send(.end(trailers), on: exchange)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushUpstreamIfNeeded()
        context.fireChannelReadComplete()
    }

    private func flushUpstreamIfNeeded() {
        if upstreamNeedsFlush, let upstream = exchange?.upstream {
            upstreamNeedsFlush = false
            upstream.handler.flush()
        }
    }

    /// Holds the client's reads while the upstream is being connected or cannot take more bytes, and
    /// while pipelined requests wait for their turn.
    func read(context: ChannelHandlerContext) {
        if lingering {
            context.read()
            return
        }
        // Closing after the current response: read nothing more (pipelined requests are not served).
        if closing, exchange == nil { return }
        if !held.isEmpty {
            pendingRead = true
            return
        }
        if let exchange, !exchange.requestEnded {
            guard let upstream = exchange.upstream, upstream.handler.isWritable else {
                pendingRead = true
                return
            }
        }
        context.read()
    }

    private func send(_ part: HTTPClientRequestPart, on exchange: Exchange) {
        exchange.keep(part, limit: exchange.cluster.config.failover.retryBodyLimit)
        if let upstream = exchange.upstream {
            upstream.handler.write(part)
            upstreamNeedsFlush = true
        } else {
            exchange.buffered.append(part)
        }
    }

    private func startExchange(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let start = NIODeadline.now()
        let current = holder.current
        if current !== runtime {
            runtime = current
            pool = current.pool(for: context.eventLoop)
        }
        let route = runtime.table.routeWithSessionID(
            host: head.headers.first(name: "host")?[...],
            target: head.uri,
            cookieHeaders: head.headers.values(of: "cookie")
        )
        let cluster = runtime.clusters[route.cluster]
        if let rejection = RequestValidator.validate(head, limits: runtime.config.limits) {
            runtime.metrics.requestRefused(rejection.metricReason)
            respondWithoutUpstream(
                head,
                cluster: cluster,
                node: nil,
                reason: "rejected",
                status: rejection.status,
                detail: rejection.message,
                start: start,
                close: true
            )
            return
        }
        if let port = redirectToHTTPS {
            redirect(head, toHTTPSPort: port, cluster: cluster, start: start)
            return
        }
        var upstreamHead = HeaderRewriter.upstreamRequestHead(
            head,
            clientIP: clientIP,
            scheme: scheme,
            forwarding: runtime.config.forwarding
        )
        // Hop-by-hop, so removed above; put back for an upgrade Latch can carry as a tunnel.
        var upgrade: String?
        if case .forward(let protocols) = Exchange.upgradeOffer(head) {
            upgrade = protocols
            upstreamHead.headers.add(name: "Connection", value: "Upgrade")
            upstreamHead.headers.add(name: "Upgrade", value: protocols)
        }
        if head.method == .CONNECT {
            respondWithoutUpstream(
                head,
                cluster: cluster,
                node: nil,
                reason: "rejected",
                status: .notImplemented,
                detail: "CONNECT is not supported",
                start: start
            )
            return
        }
        let stay = StayState(cluster: cluster, lookup: route.lookup, sessionID: route.sessionID, headers: head.headers)
        let placement = cluster.place(route.lookup, owner: stay.owner, grant: makeGrant(cluster: cluster))
        let decision: NodeDecision
        switch placement {
        case .unserved(let unserved):
            cluster.countUnserved(unserved.reason)
            respondWithoutUpstream(
                head,
                cluster: cluster,
                node: route.lookup.nodeName(in: cluster.config),
                reason: unserved.reason.rawValue,
                status: .serviceUnavailable,
                detail: ProxyHandler.clientMessage(for: .serviceUnavailable),
                start: start
            )
            return
        case .queueFull(let full):
            runtime.metrics.requestRefused("queue_full")
            respondWithoutUpstream(
                head,
                cluster: cluster,
                node: full.node.map { cluster.config.nodes[$0].name },
                reason: full.reason.rawValue,
                status: .serviceUnavailable,
                detail: ProxyHandler.busyMessage,
                start: start
            )
            return
        case .admitted(let admitted), .queued(let admitted, _):
            decision = admitted
        }
        let exchange = Exchange(
            request: head,
            upstreamHead: upstreamHead,
            lookup: route.lookup,
            cluster: cluster,
            node: decision.node!,
            reason: decision.reason,
            start: start
        )
        exchange.sessionID = route.sessionID
        exchange.upgrade = upgrade
        exchange.owner = stay.owner
        exchange.hadOwnerCookie = stay.hadOwnerCookie
        self.exchange = exchange
        proceed(exchange, placement)
    }

    /// Leases a connection for an admitted exchange, or lets a queued one wait for its grant.
    private func proceed(_ exchange: Exchange, _ placement: Placement) {
        guard case .queued(_, let ticket) = placement else {
            exchange.holdsSlot = true
            lease(for: exchange, forceNew: false)
            return
        }
        exchange.queueTicket = ticket
        exchange.queueTimer = context?.eventLoop.assumeIsolated().scheduleTask(
            in: TimeAmount(exchange.cluster.config.limits.queueTimeout)
        ) { [weak self, weak exchange] in
            guard let self, let exchange else { return }
            self.queueTimedOut(exchange)
        }
    }

    /// What a queued request runs when a slot is handed to it: hops to this connection's loop, and
    /// gives the slot back if the request is gone meanwhile.
    private func makeGrant(cluster: ClusterRuntime) -> @Sendable (Int, UInt64) -> Void {
        guard let loop = context?.eventLoop else { return { node, _ in cluster.finished(node: node) } }
        let handler = NIOLoopBound(self, eventLoop: loop)
        return { node, ticket in
            loop.execute { handler.value.queueGranted(cluster: cluster, node: node, ticket: ticket) }
        }
    }

    private func queueGranted(cluster: ClusterRuntime, node: Int, ticket: UInt64) {
        guard let exchange, exchange.queueTicket == ticket, exchange.cluster === cluster, context != nil else {
            cluster.finished(node: node)
            return
        }
        exchange.queueTicket = nil
        exchange.queueTimer?.cancel()
        exchange.queueTimer = nil
        exchange.holdsSlot = true
        lease(for: exchange, forceNew: false)
    }

    private func queueTimedOut(_ exchange: Exchange) {
        guard self.exchange === exchange, let ticket = exchange.queueTicket,
            exchange.cluster.cancelQueued(node: exchange.node, ticket: ticket, timedOut: true)
        else { return }  // the grant is on its way
        exchange.queueTicket = nil
        exchange.queueTimer = nil
        runtime.metrics.requestRefused("queue_timeout")
        fail(exchange, .queueTimedOut)
    }

    private func lease(for exchange: Exchange, forceNew: Bool) {
        guard let pool else { return }
        // The common keep-alive case needs no completion closure.
        if !forceNew, let connection = pool.takeIdle(exchange.key) {
            leased(.success(connection), for: exchange)
            return
        }
        // Holds this handler until the connect ends (at most `timeouts.connect`); `leased` sees
        // whether the client is still there.
        pool.lease(exchange.key, address: exchange.nodeConfig.address, tls: exchange.cluster.tls, forceNew: forceNew) { result in
            self.leased(result, for: exchange)
        }
    }

    private func leased(_ result: Result<UpstreamConnection, UpstreamFailure>, for exchange: Exchange) {
        guard self.exchange === exchange, context != nil else {
            // The client went away while we were connecting: the fresh connection is still clean.
            if case .success(let connection) = result { pool?.release(connection, reusable: true) }
            return
        }
        switch result {
        case .failure(let failure):
            // The same path as a broken connection: passive detection, then maybe another node.
            upstreamFailed(failure)
        case .success(let connection):
            exchange.upstream = connection
            exchange.wroteToUpstream = true
            connection.handler.delegate = self
            connection.handler.write(.head(exchange.headForNode))
            for part in exchange.buffered {
                connection.handler.write(part)
            }
            exchange.buffered.removeAll()
            connection.handler.flush()
            connection.handler.startWatchdog(interval: runtime.timeouts.upstreamResponse)
            resumeClientReads()
        }
    }

    private func resumeClientReads() {
        if pendingRead, let context {
            pendingRead = false
            read(context: context)
        }
    }

    // MARK: - Upstream → client (UpstreamDelegate)

    var downstreamWritable: Bool { context?.channel.isWritable ?? true }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { resumeClientReads() }
    }

    func upstreamResponsePart(_ part: HTTPClientResponsePart) {
        guard let exchange, let context else { return }
        switch part {
        case .head(let head) where head.status.isInformational:
            // 100 Continue and friends: forwarded only to clients that can understand them (RFC 9110 §15.2).
            guard !exchange.request.version.isHTTP10 else { return }
            let interim = HeaderRewriter.downstreamResponseHead(
                head,
                clientVersion: exchange.request.version,
                keepAlive: true,
                via: runtime.config.forwarding.via
            )
            if wire == .http2 {
                writeHTTP2(.head(interim), context: context)
            } else {
                stage { HTTPWire.write(interim, into: &$0) }
                sendStaged(context)
            }
            context.flush()
        case .head(let head) where head.status == .switchingProtocols:
            guard exchange.upgrade != nil, exchange.requestEnded else {
                // A 101 nobody asked for is a node misbehaving; its connection is no longer HTTP.
                fail(exchange, .badResponse("unexpected 101 Switching Protocols"))
                return
            }
            openTunnel(exchange, head, context: context)
        case .head(let head):
            exchange.responseStatus = head.status
            if head.status.code >= 500, exchange.cluster.config.passive.on5xx {
                notePassiveFailure(exchange, .serverError(Int(head.status.code)))
            }
            let closeDelimited = Exchange.isCloseDelimited(head, requestMethod: exchange.request.method)
            exchange.upstreamReusable = head.isKeepAlive && !closeDelimited
            // An HTTP/1.0 client cannot be told where an unknown-length body ends except by a close.
            let clientCanFrame =
                !exchange.request.version.isHTTP10 || head.headers.contains(name: "content-length")
                || exchange.request.method == .HEAD || !head.status.mayHaveResponseBody
            if !exchange.requestEnded || closing || !clientCanFrame {
                exchange.clientKeepAlive = false
            }
            if !exchange.clientKeepAlive { closing = true }
            var downstream = HeaderRewriter.downstreamResponseHead(
                head,
                clientVersion: exchange.request.version,
                keepAlive: exchange.clientKeepAlive,
                via: runtime.config.forwarding.via
            )
            if let name = exchange.cluster.config.failover.nodeHeader {
                downstream.headers.replaceOrAdd(name: name, value: exchange.nodeConfig.name)
            }
            if head.headers.contains(name: "set-cookie") {
                exchange.issuedSessions = exchange.cluster.issuedSessions(in: head.headers["set-cookie"])
            }
            if exchange.cluster.config.failover.failback == .stay {
                StayState.updateOwnerCookie(&downstream.headers, for: exchange, secure: scheme == "https")
            }
            exchange.framing = ResponseFraming.frame(&downstream, requestMethod: exchange.request.method)
            if wire == .http2 {
                // DATA frames and END_STREAM delimit the body; HTTP/2 has no chunking (RFC 9113 §8.2.2).
                // The `Transfer-Encoding` framing added goes with the other connection-specific
                // fields, which the stream's codec removes from every head and trailer block.
                exchange.framing.chunked = false
            }
            // Written with the first body bytes, the end or the end of this read, whichever comes
            // first: a node whose body breaks in the same read as its head still gets the client a 502.
            exchange.pendingHead = downstream
        case .body(let buffer):
            writePendingHead(exchange, context: context)
            exchange.responseBytes += buffer.readableBytes
            writeBody(buffer, framing: exchange.framing, context: context)
        case .end(let trailers):
            writePendingHead(exchange, context: context)
            if wire == .http2 {
                writeHTTP2(.end(trailers), context: context)
                finish(exchange, upstreamReusable: exchange.upstreamReusable && exchange.requestEnded)
                endHTTP2Stream(requestEnded: exchange.requestEnded, context: context)
                return
            }
            if exchange.framing.chunked { stage { HTTPWire.writeLastChunk(trailers: trailers, into: &$0) } }
            finish(exchange, upstreamReusable: exchange.upstreamReusable && exchange.requestEnded)
            let keepAlive = exchange.clientKeepAlive
            if keepAlive {
                deadlines.exchangeFinished()
                sendStaged(context)
                context.flush()
                deliverHeld(context)
            } else {
                let last = staged ?? context.channel.allocator.buffer(capacity: 0)
                staged = nil
                context.writeAndFlush(wrapOutboundOut(last)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        }
    }

    /// The node switched protocols: the client gets the 101, then both connections become one byte
    /// tunnel (``TunnelHandler``), which replaces the HTTP handlers on the client's side. The exchange
    /// ends here for bookkeeping (one access line, status 101; the node's slot is free again); the
    /// node connection stays with the tunnel and never returns to the pool.
    private func openTunnel(_ exchange: Exchange, _ head: HTTPResponseHead, context: ChannelHandlerContext) {
        guard let upstream = exchange.upstream else { return }
        var downstream = HeaderRewriter.downstreamResponseHead(
            head, clientVersion: exchange.request.version, keepAlive: true, via: runtime.config.forwarding.via)
        // Removed as hop-by-hop; a 101 must say what the connection switches to (RFC 9110 §7.8).
        downstream.headers.add(name: "Connection", value: "Upgrade")
        for value in head.headers["upgrade"] { downstream.headers.add(name: "Upgrade", value: value) }
        if let name = exchange.cluster.config.failover.nodeHeader {
            downstream.headers.replaceOrAdd(name: name, value: exchange.nodeConfig.name)
        }
        exchange.responseStatus = head.status
        exchange.upstream = nil
        finish(exchange, upstreamReusable: false)
        stage { HTTPWire.write(downstream, into: &$0) }
        sendStaged(context)
        context.flush()
        let tunnel = TunnelHandler(
            upstream: upstream,
            idleTimeout: TimeAmount(runtime.config.timeouts.tunnel),
            logger: runtime.logger,
            labels: .init(client: clientAddress, cluster: exchange.cluster.config.name, node: exchange.nodeConfig.name)
        )
        do {
            // In front of the request decoder, which has stopped at the upgrade request and stays,
            // idle: from now on the client's bytes end at the tunnel (what the client sent before
            // the 101 stays in the decoder, unread: a WebSocket client waits for the 101). A
            // ByteToMessageHandler leaves the pipeline only later, so it is not removed.
            let sync = context.pipeline.syncOperations
            try sync.addHandler(tunnel, position: .before(sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)))
            try sync.removeHandler(context: sync.context(handlerType: ClientDeadlineHandler.self), promise: nil)
            sync.removeHandler(context: context, promise: nil)
        } catch {
            runtime.logger.error("cannot open the tunnel", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
            upstream.channel.close(promise: nil)
            context.close(promise: nil)
        }
    }

    func upstreamReadComplete() {
        guard let context else { return }
        if let exchange { writePendingHead(exchange, context: context) }
        sendStaged(context)
        context.flush()
    }

    /// A body part as the framing says: dropped for a bodiless response, chunk-framed for a chunked
    /// one; a small part joins the staged bytes, a large one goes out as it came.
    private func writeBody(_ body: ByteBuffer, framing: ResponseFraming, context: ChannelHandlerContext) {
        guard !framing.suppressBody, body.readableBytes > 0 else { return }
        if wire == .http2 {
            writeHTTP2(.body(.byteBuffer(body)), context: context)
            return
        }
        if body.readableBytes <= Self.coalesceLimit {
            stage { out in
                if framing.chunked { HTTPWire.writeChunk(body, into: &out) } else { out.writeImmutableBuffer(body) }
            }
            return
        }
        if framing.chunked { stage { HTTPWire.writeChunkSize(body.readableBytes, into: &$0) } }
        sendStaged(context)
        context.write(wrapOutboundOut(body), promise: nil)
        if framing.chunked { stage { $0.writeImmutableBuffer(HTTPWire.chunkEnd) } }
    }

    /// Appends to the bytes gathered for the client.
    private func stage(_ write: (inout ByteBuffer) -> Void) {
        if staged == nil {
            guard let context else { return }
            staged = context.channel.allocator.buffer(capacity: 1024)
        }
        write(&staged!)
    }

    /// Writes (without flushing) what was gathered.
    private func sendStaged(_ context: ChannelHandlerContext) {
        guard let buffer = staged else { return }
        staged = nil
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    /// From here the client has the response head: an error can only cut the connection.
    private func writePendingHead(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let head = exchange.pendingHead else { return }
        exchange.pendingHead = nil
        exchange.responseStarted = true
        if wire == .http2 {
            writeHTTP2(.head(head), context: context)
            return
        }
        stage { HTTPWire.write(head, into: &$0) }
    }

    /// A response part on an HTTP/2 stream, for swift-nio-http2's codec to turn into frames. Written
    /// as the part type, not the bytes this handler otherwise writes (its `OutboundOut`): the stream's
    /// pipeline has the codec where a connection's has the socket.
    private func writeHTTP2(_ part: HTTPServerResponsePart, context: ChannelHandlerContext) {
        context.write(NIOAny(part), promise: nil)
    }

    /// After an HTTP/2 response's end: the stream closes by itself once the request has ended too. If
    /// the client is still sending a body nobody will read, it is read and dropped, within the same
    /// bounds as HTTP/1's lingering close, so the stream ends cleanly: resetting it at once would make
    /// clients drop the answer they were just sent (RFC 9113 §8.1 allows the reset, clients handle it
    /// badly). Past the bounds, the stream is reset.
    private func endHTTP2Stream(requestEnded: Bool, context: ChannelHandlerContext) {
        context.flush()
        guard !requestEnded else { return }
        lingering = true
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerLimit.time) {
            context.close(promise: nil)
        }
        context.read()
    }

    var awaitingClientBody: Bool {
        guard let exchange else { return false }
        // Reads held for backpressure mean the node, not the client, is the one not moving.
        return !exchange.requestEnded && !pendingRead
    }

    func downstreamStalled() {
        guard let exchange, let context else { return }
        exchange.failure = .clientStalled
        finish(exchange, upstreamReusable: false)
        staged = nil
        context.close(promise: nil)
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        guard let exchange else { return }
        let attempt = exchange.attempt(failedWith: failure)
        let rule = RetryRule(exchange.cluster.config.failover)
        let verdict = rule.verdict(attempt)
        if verdict == .sameNodeFreshConnection, let upstream = exchange.upstream {
            exchange.retried = true
            exchange.upstream = nil
            pool?.release(upstream, reusable: false)
            // The failure may come while the head is being flushed, before the request's end was read.
            exchange.buffered = exchange.requestEnded ? [.end(nil)] : []
            lease(for: exchange, forceNew: true)
            return
        }
        if rule.countsAgainstNode(attempt) { notePassiveFailure(exchange, failure) }
        if verdict == .anotherNode {
            retryElsewhere(exchange, after: failure)
            return
        }
        fail(exchange, failure)
    }

    /// Real traffic's verdict on the node (`passive:`): a refused connect ejects it at once, other
    /// connection failures count toward `failures`.
    private func notePassiveFailure(_ exchange: Exchange, _ failure: UpstreamFailure) {
        guard failure.isNodeFault, failure != .timeout || !exchange.wroteToUpstream else {
            // A slow answer is the node's business; the watchdog already answered 504.
            return
        }
        switch failure {
        case .connectFailed, .connectRefused, .connectTimedOut:
            runtime.metrics.connectError(cluster: exchange.cluster.config.name, node: exchange.nodeConfig.name)
        default:
            break
        }
        let kind: PassiveEjection<ContinuousClock.Instant>.Failure = failure.isRefused ? .refused : .counted
        if exchange.cluster.recordTrafficFailure(node: exchange.node, kind) {
            runtime.logger.warning(
                "node ejected by passive detection",
                metadata: [
                    "cluster": "\(exchange.cluster.config.name)", "node": "\(exchange.nodeConfig.name)",
                    "error": "\(failure.logDescription)",
                ]
            )
        }
    }

    private func retryElsewhere(_ exchange: Exchange, after failure: UpstreamFailure) {
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            pool?.release(upstream, reusable: false)
        }
        exchange.cluster.finished(node: exchange.node)
        exchange.holdsSlot = false
        let placement = exchange.cluster.place(
            exchange.lookup,
            owner: exchange.owner,
            excluding: exchange.tried + [exchange.node],
            grant: makeGrant(cluster: exchange.cluster)
        )
        let next: Int
        switch placement {
        case .unserved(let decision):
            fail(exchange, decision.reason == .rejected ? .rejectedAfterFailure : failure)
            return
        case .queueFull:
            fail(exchange, failure)
            return
        case .admitted(let decision), .queued(let decision, _):
            next = decision.node!
            exchange.reason = decision.reason
        }
        exchange.cluster.countRetriedAway(node: exchange.node)
        exchange.tried.append(exchange.node)
        runtime.logger.info(
            "retrying on another node",
            metadata: [
                "cluster": "\(exchange.cluster.config.name)", "from": "\(exchange.nodeConfig.name)",
                "to": "\(exchange.cluster.config.nodes[next].name)", "error": "\(failure.logDescription)",
            ]
        )
        exchange.node = next
        if exchange.wroteToUpstream, let kept = exchange.kept {
            exchange.buffered = kept
        }
        exchange.wroteToUpstream = false
        proceed(exchange, placement)
    }

    /// The exchange cannot complete: answer 502/504 if the client has seen nothing yet, else cut the
    /// connection (the only way HTTP/1.1 can say "this response is incomplete").
    private func fail(_ exchange: Exchange, _ failure: UpstreamFailure) {
        guard let context else { return }
        // A head not yet written is forgotten: the client gets Latch's error instead.
        exchange.pendingHead = nil
        exchange.failure = exchange.responseStarted && failure == .closedBeforeResponse ? .closedMidResponse : failure
        if exchange.responseStarted {
            finish(exchange, upstreamReusable: false)
            sendStaged(context)  // what the client already had in this read, then the cut
            context.flush()
            context.close(promise: nil)
            return
        }
        let status: HTTPResponseStatus
        switch failure {
        case .timeout, .connectTimedOut: status = .gatewayTimeout
        case .clientTimedOut: status = .requestTimeout
        case .clientRejected(let refusal, _): status = refusal
        case .rejectedAfterFailure, .queueTimedOut: status = .serviceUnavailable
        default: status = .badGateway
        }
        exchange.responseStatus = status
        if !exchange.requestEnded || !exchange.clientKeepAlive { closing = true }
        exchange.clientKeepAlive = exchange.clientKeepAlive && !closing
        finish(exchange, upstreamReusable: false)
        var detail = ProxyHandler.clientMessage(for: status)
        if case .clientRejected(_, let why) = failure { detail = why }
        if failure == .queueTimedOut { detail = ProxyHandler.busyMessage }
        writeError(
            status,
            detail: detail,
            version: exchange.request.version,
            keepAlive: exchange.clientKeepAlive,
            linger: !exchange.requestEnded,
            headRequest: exchange.request.method == .HEAD,
            context: context
        )
    }

    /// Bookkeeping when an exchange ends, before its last bytes are written (writing the end may make
    /// the pipelining handler deliver the next request at once).
    private func finish(_ exchange: Exchange, upstreamReusable: Bool) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        exchange.queueTimer?.cancel()
        let releasingSlot = exchange.holdsSlot
        exchange.holdsSlot = false
        if !releasingSlot, let ticket = exchange.queueTicket {
            // Still waiting: leave the line. If the slot was handed over meanwhile, the grant finds
            // the exchange gone and gives the slot back.
            exchange.queueTicket = nil
            _ = exchange.cluster.cancelQueued(node: exchange.node, ticket: ticket, timedOut: false)
        }
        let existingSession = switch exchange.reason {
        case .sticky, .stayed, .failoverRanked, .failoverReplica, .failoverAny: true
        default: false
        }
        exchange.cluster.exchangeEnded(
            node: exchange.node,
            releasingSlot: releasingSlot,
            reason: exchange.reason,
            nodeFailed: exchange.failure?.isNodeFault ?? false,
            sighting: existingSession && exchange.failure == nil,
            sessionID: exchange.sessionID
        )
        // Only a session cookie the client was given: a head replaced by a 502 never reached it.
        if !exchange.issuedSessions.isEmpty, exchange.responseStarted {
            exchange.cluster.noteIssuedSessions(exchange.issuedSessions, servedBy: exchange.node, requestSessionID: exchange.sessionID)
        }
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            pool?.release(upstream, reusable: upstreamReusable)
        }
        exchange.cluster.requestMetrics[exchange.node].finished(
            reason: exchange.reason,
            status: exchange.responseStatus.map { Int($0.code) },
            duration: Duration(exchange.start, .now())
        )
        runtime.accessLog.record(
            .init(
                client: clientAddress,
                method: exchange.request.method.rawValue,
                target: exchange.request.uri,
                cluster: exchange.cluster.config.name,
                node: exchange.nodeConfig.name,
                reason: exchange.reason.rawValue,
                retries: exchange.tried.count,
                status: exchange.responseStatus.map { Int($0.code) },
                bytes: exchange.responseBytes,
                duration: .now() - exchange.start,
                error: exchange.failure?.logDescription,
                headers: AccessLogFormatter.ClientHeaders(exchange.request.headers),
                version: "HTTP/\(exchange.request.version.major).\(exchange.request.version.minor)"
            )
        )
        if let failure = exchange.failure, failure.isNodeFault {
            runtime.logger.warning(
                "upstream failed",
                metadata: [
                    "node": "\(exchange.nodeConfig.name)", "address": "\(exchange.nodeConfig.address)",
                    "error": "\(failure.logDescription)",
                ]
            )
        }
        resumeClientReads()
    }

    // MARK: - Answers Latch gives itself

    private func respondWithoutUpstream(
        _ head: HTTPRequestHead,
        cluster: ClusterRuntime,
        node: String?,
        reason: String,
        status: HTTPResponseStatus,
        detail: String,
        start: NIODeadline,
        close: Bool = false,
        extraHeaders: [(String, String)] = []
    ) {
        guard let context else { return }
        // Whatever body follows this head is not read: the connection cannot be reused after it
        // unless the request visibly has no body. A refused request's connection is never reused: a
        // head two parsers may read differently must not be followed by anything Latch parses.
        let hasBody = head.headers.contains(name: "transfer-encoding")
            || (head.headers.first(name: "content-length").map { $0 != "0" } ?? false)
        let keepAlive = head.isKeepAlive && !hasBody && !close && !Exchange.asksForUpgrade(head)
        if !keepAlive { closing = true }
        runtime.metrics.requestFinished(
            cluster: cluster.config.name,
            node: node,
            reason: reason,
            status: Int(status.code),
            duration: Duration(start, .now())
        )
        runtime.accessLog.record(
            .init(
                client: clientAddress,
                method: head.method.rawValue,
                target: head.uri,
                cluster: cluster.config.name,
                node: node,
                reason: reason,
                status: Int(status.code),
                bytes: 0,
                duration: .now() - start,
                error: detail,
                headers: AccessLogFormatter.ClientHeaders(head.headers),
                version: "HTTP/\(head.version.major).\(head.version.minor)"
            )
        )
        writeError(
            status, detail: detail, version: head.version, keepAlive: keepAlive, linger: hasBody,
            headRequest: head.method == .HEAD, extraHeaders: extraHeaders, context: context
        )
    }

    /// `308 Permanent Redirect` to the same host and target on https: 308 rather than 301 so a POST
    /// stays a POST (RFC 9110 §15.4.9). Without a Host there is nowhere to send the client.
    private func redirect(_ head: HTTPRequestHead, toHTTPSPort port: Int, cluster: ClusterRuntime, start: NIODeadline) {
        guard let location = HTTPSRedirect.location(host: head.headers.first(name: "host"), target: head.uri, port: port) else {
            respondWithoutUpstream(
                head, cluster: cluster, node: nil, reason: "rejected", status: .badRequest,
                detail: "a redirect to https needs the Host header", start: start, close: true
            )
            return
        }
        respondWithoutUpstream(
            head, cluster: cluster, node: nil, reason: "redirect", status: .permanentRedirect,
            detail: "moved to \(location)", start: start, extraHeaders: [("Location", location)]
        )
    }

    /// A short plain-text answer of Latch's own: `502 Bad Gateway: the application server failed to answer`.
    private func writeError(
        _ status: HTTPResponseStatus,
        detail: String,
        version: HTTPVersion,
        keepAlive: Bool,
        linger: Bool = false,
        headRequest: Bool = false,
        extraHeaders: [(String, String)] = [],
        context: ChannelHandlerContext
    ) {
        let body = "\(status.code) \(status.reasonPhrase): \(detail)\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if version.isHTTP10 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let responseVersion: HTTPVersion = version.isHTTP10 ? .http1_0 : .http1_1
        if wire == .http2 {
            writeHTTP2(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), context: context)
            if !headRequest { writeHTTP2(.body(.byteBuffer(context.channel.allocator.buffer(string: body))), context: context) }
            writeHTTP2(.end(nil), context: context)
            if keepAlive { deadlines.exchangeFinished() }
            endHTTP2Stream(requestEnded: !linger, context: context)
            return
        }
        sendStaged(context)
        var buffer = context.channel.allocator.buffer(capacity: 256 + body.utf8.count)
        HTTPWire.write(HTTPResponseHead(version: responseVersion, status: status, headers: headers), into: &buffer)
        // A response to HEAD carries the fields a GET would have had, without the body (RFC 9110 §9.3.2).
        if !headRequest { buffer.writeString(body) }
        if keepAlive { deadlines.exchangeFinished() }
        let written = context.writeAndFlush(wrapOutboundOut(buffer))
        if keepAlive {
            deliverHeld(context)
        } else {
            written.assumeIsolated().whenComplete { [weak self] result in
                guard linger, case .success = result, let self else {
                    context.close(promise: nil)
                    return
                }
                self.lingeringClose(context)
            }
        }
    }

    /// After an error answered before the request body was read: send FIN, then read and drop what the
    /// client is still sending, for up to 10 s or 1 MiB. Closing at once with unread bytes would make the
    /// kernel send a reset, which can destroy the answer before the client reads it — a 413 would look
    /// like a network error (nginx's `lingering_close` does the same, for up to `lingering_time` 30 s).
    /// 2 s proved too short for a client uploading on a busy machine.
    private func lingeringClose(_ context: ChannelHandlerContext) {
        lingering = true
        context.close(mode: .output, promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerLimit.time) {
            context.close(promise: nil)
        }
        context.read()
    }

    /// Short, stable texts: the details (node, address, errno) go to the log, not to the internet.
    static func clientMessage(for status: HTTPResponseStatus) -> String {
        switch status {
        case .badGateway: "the application server failed to answer"
        case .gatewayTimeout: "the application server did not answer in time"
        case .serviceUnavailable: "no application server is available"
        case .requestTimeout: "the request body stopped arriving"
        case .payloadTooLarge: "the request body is too large"
        default: status.reasonPhrase
        }
    }

    /// A node at `max_connections` with a full queue, or no slot within `queue_timeout`.
    static let busyMessage = "the application server is busy, try again shortly"

    /// The client went silent in the middle of its request body for `timeouts.idle`.
    private func requestBodyTimedOut() {
        guard let context else { return }
        guard let exchange, !exchange.responseStarted else {
            context.close(promise: nil)
            return
        }
        closing = true
        fail(exchange, .clientTimedOut)
    }

    // MARK: - Connection events

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            exchange?.upstream?.handler.resumeReading()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Replays what was held behind the response that just ended, in order, up to the next request
    /// head that must wait in turn; then reads resume if nothing is left waiting.
    private func deliverHeld(_ context: ChannelHandlerContext) {
        while let event = held.first {
            if case .part(let part) = event, part.isHead, exchange != nil || closing { break }
            held.removeFirst()
            switch event {
            case .part(let part): handle(part, context: context)
            case .error(let error): errorCaught(context: context, error: error)
            case .inputClosed: inputClosed(context)
            }
        }
        // A response that closes the connection ends the line: the requests behind it are not served.
        if closing, exchange == nil { held.removeAll() }
        flushUpstreamIfNeeded()
        if held.isEmpty { resumeClientReads() }
    }

    /// The client finished sending (half-close). A request in progress is still answered, as nginx and
    /// HAProxy do; the connection closes after it.
    private func inputClosed(_ context: ChannelHandlerContext) {
        if lingering || exchange == nil {
            context.close(promise: nil)
            return
        }
        closing = true
        exchange?.clientKeepAlive = false
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            if held.isEmpty { inputClosed(context) } else { held.append(.inputClosed) }
        case is ChannelShouldQuiesceEvent:
            // Shutdown: an idle connection closes now, a busy one after its current response, which
            // says `Connection: close` if its head has not gone out yet.
            held.removeAll()
            guard let exchange else {
                context.close(promise: nil)
                return
            }
            closing = true
            exchange.clientKeepAlive = false
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        held.removeAll()
        if let exchange {
            exchange.failure = .clientClosed
            finish(exchange, upstreamReusable: false)
        }
        context.fireChannelInactive()
    }

    /// NIOHTTP1's parser refused the client's bytes (``ParseErrorAnswer`` says with what). The parser
    /// stops at the error, so the connection always closes; the answer is given only if the client
    /// can still read one as the answer to its request.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if lingering {
            // After a parse error the decoder hands on what still arrives as this error: it is the
            // lingering client's bytes, read and dropped like a refused body's.
            if case ByteToMessageDecoderError.dataReceivedInErrorState(_, let buffer) = error {
                lingeredBytes += buffer.readableBytes
                if lingeredBytes <= Self.lingerLimit.bytes { return }
            }
            context.close(promise: nil)
            return
        }
        // A parse error behind pipelined requests is theirs to reach in turn.
        if !held.isEmpty, error is HTTPParserError {
            held.append(.error(error))
            return
        }
        guard let parseError = error as? HTTPParserError else {
            runtime.logger.debug("client connection error", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
            context.close(promise: nil)
            return
        }
        let answer = ParseErrorAnswer(parseError)
        runtime.metrics.requestRefused(answer.metricReason)
        runtime.logger.info(
            "malformed request, closing",
            metadata: ["client": "\(clientAddress)", "error": "\(parseError.debugDescription)"]
        )
        if let exchange {
            if exchange.requestEnded {
                // The bytes after a complete request: it is answered, then the connection closes.
                closing = true
                exchange.clientKeepAlive = false
                return
            }
            // The error is in this request's body (a bad chunk): the node must not get the rest.
            refuseMidRequest(exchange, RequestRejection(status: answer.status, message: answer.message))
            return
        }
        // Bytes after a response that said `Connection: close` are not a request Latch owes an answer;
        // that response closes the connection once written (closing here would cut it off unflushed).
        if closing { return }
        guard answer.answers else {
            context.close(promise: nil)
            return
        }
        closing = true
        runtime.accessLog.record(
            .init(
                client: clientAddress, method: "-", target: "-", cluster: nil, node: nil, reason: "rejected",
                status: Int(answer.status.code), bytes: 0, duration: .zero, error: answer.message, version: "-"
            )
        )
        // The client may still be sending the rest of what the parser refused (a head far over the
        // limit): linger, so the answer is not destroyed by a reset.
        writeError(answer.status, detail: answer.message, version: .http1_1, keepAlive: false, linger: true, context: context)
    }

    /// The request broke a rule after it was sent on: the node's connection is closed (it holds a
    /// partial request), and the client gets `rejection` unless its response has begun.
    private func refuseMidRequest(_ exchange: Exchange, _ rejection: RequestRejection) {
        guard let context else { return }
        closing = true
        exchange.clientKeepAlive = false
        if exchange.responseStarted {
            exchange.failure = .clientRejected(rejection.status, rejection.message)
            finish(exchange, upstreamReusable: false)
            context.close(promise: nil)
            return
        }
        fail(exchange, .clientRejected(rejection.status, rejection.message))
    }
}

extension HTTPServerRequestPart {
    var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}

extension Duration {
    /// The time between two NIO deadlines.
    init(_ start: NIODeadline, _ end: NIODeadline) {
        self = .nanoseconds((end - start).nanoseconds)
    }
}
