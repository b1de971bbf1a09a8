import LatchCore
import Logging
import NIOCore
import NIOHTTP1

/// The response's way back: the node's parts relayed through the ``ResponseWriter``, the tunnel after
/// a 101, Latch's own answers, and what the connection does once a response is complete.
extension ProxyHandler {
    var downstreamWritable: Bool {
        if let stream { return stream.writable }
        return context?.channel.isWritable ?? true
    }

    var awaitingClientBody: Bool {
        guard let exchange else { return false }
        // Reads held for backpressure mean the node, not the client, is the one not moving.
        return !exchange.machine.requestEnded && !client.readPending
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { resumeClientReads() }
    }

    func upstreamResponseHead(_ head: NodeResponseHead) {
        guard let exchange, let context else { return }
        let fields = head.facts
        if head.status.isInformational {
            // 100 Continue and friends: forwarded only to clients that can understand them (RFC 9110 §15.2).
            guard !exchange.request.version.isHTTP10 else { return }
            let interim = HeaderRewriter.downstreamResponseHead(
                head, clientVersion: exchange.request.version, keepAlive: true, via: runtime.via)
            writer.writeHead(interim, context: context)
            writer.flush(context: context)
            return
        }
        if head.status == .switchingProtocols {
            guard exchange.upgrade != nil, exchange.machine.requestEnded else {
                // A 101 nobody asked for is a node misbehaving; its connection is no longer HTTP.
                fail(exchange, .badResponse("unexpected 101 Switching Protocols"))
                return
            }
            openTunnel(exchange, head, context: context)
            return
        }
        if head.status.code >= 500, exchange.cluster.config.passive.on5xx {
            notePassiveFailure(exchange, .serverError(Int(head.status.code)))
        }
        let method = exchange.request.method
        let keepAlive = exchange.machine.receivedHead(
            head.status,
            upstreamReusable: fields.isKeepAlive(head.version) && !MessageFraming.isCloseDelimited(head.status, fields, requestMethod: method),
            clientCanFrame: MessageFraming.clientCanFrame(head.status, fields, request: exchange.request),
            connectionCloses: client.closesAfterResponse
        )
        if !keepAlive { client.closeAfterResponse() }
        let downstream = HeaderRewriter.downstreamResponseHead(
            head, clientVersion: exchange.request.version, keepAlive: keepAlive, via: runtime.via)
        if let name = exchange.cluster.config.failover.nodeHeader {
            downstream.replaceOrAdd(name: name, value: exchange.nodeConfig.name)
        }
        if fields.setCookie {
            exchange.issuedSessions = exchange.cluster.issuedSessions(in: head.fields.values(.setCookie))
        }
        if exchange.cluster.config.failover.failback == .stay {
            StayState.updateOwnerCookie(&downstream.added, for: exchange, secure: scheme == "https")
        }
        exchange.framing = ResponseFraming.frame(downstream, requestMethod: method, hasContentLength: fields.contentLength != nil)
        // The `Transfer-Encoding` an HTTP/2 head gets here goes with the other connection-specific
        // fields, which the stream's codec removes from every head and trailer block.
        if !writer.chunksBodies { exchange.framing.chunked = false }
        exchange.machine.headReady(downstream)
    }

    func upstreamResponseBody(_ body: ByteBuffer) {
        guard let exchange, let context else { return }
        writePendingHead(exchange, context: context)
        exchange.responseBytes += body.readableBytes
        writer.writeBody(body, framing: exchange.framing, context: context)
    }

    func upstreamResponseEnd(_ trailers: HTTPHeaders?) {
        guard let exchange, let context else { return }
        let outerTime = eventTime
        let now = outerTime ?? context.eventLoop.now
        eventTime = now
        defer { eventTime = outerTime }
        writePendingHead(exchange, context: context)
        writer.writeEnd(trailers: trailers, framing: exchange.framing, context: context)
        let reusable = exchange.machine.responseEnded()
        finish(exchange, upstreamReusable: reusable)
        let keepAlive = exchange.machine.clientKeepAlive
        if keepAlive { deadlines.exchangeFinished(at: now, on: context.eventLoop, self) }
        completed(writer.complete(keepAlive: keepAlive, requestUnread: !exchange.machine.requestEnded, context: context), context: context)
    }

    func upstreamReadComplete() {
        guard let context else { return }
        if let exchange { writePendingHead(exchange, context: context) }
        writer.flush(context: context)
    }

    /// From here the client has the response head: an error can only cut the connection.
    private func writePendingHead(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let head = exchange.machine.takeHead() else { return }
        writer.writeHead(head, context: context)
        // Written: the node's line table serves the next head parsed on this loop.
        pool?.buffers.giveBack(table: head.relayed.lines)
    }

    /// The node switched protocols: the client gets the 101, then both connections become one byte
    /// tunnel (``TunnelHandler``), which replaces the HTTP handlers on the client's side. The exchange
    /// ends here for bookkeeping (one access line, status 101; the node's slot is free again); the
    /// node connection stays with the tunnel and never returns to the pool.
    private func openTunnel(_ exchange: Exchange, _ head: NodeResponseHead, context: ChannelHandlerContext) {
        guard let upstream = exchange.upstream else { return }
        if let stream {
            openHTTP2Tunnel(exchange, head, upstream: upstream, stream: stream, context: context)
            return
        }
        let downstream = HeaderRewriter.downstreamResponseHead(
            head, clientVersion: exchange.request.version, keepAlive: true, via: runtime.via)
        // Removed as hop-by-hop; a 101 must say what the connection switches to (RFC 9110 §7.8).
        downstream.connection = "Upgrade"
        for value in head.fields.values(.upgrade) { downstream.added.append(("Upgrade", value)) }
        if let name = exchange.cluster.config.failover.nodeHeader {
            downstream.replaceOrAdd(name: name, value: exchange.nodeConfig.name)
        }
        exchange.machine.switchedProtocols(head.status)
        exchange.upstream = nil
        finish(exchange, upstreamReusable: false)
        writer.writeHead(downstream, context: context)
        writer.flush(context: context)
        let tunnel = TunnelHandler(
            upstream: upstream,
            idleTimeout: TimeAmount(runtime.config.timeouts.tunnel),
            logger: runtime.logger,
            labels: .init(client: clientAddress, cluster: exchange.cluster.config.name, node: exchange.nodeConfig.name)
        )
        do {
            // In this handler's place: from now on the client's bytes end at the tunnel. What the
            // client sent behind its upgrade request (the parser stopped there) is the tunnel's first.
            let sync = context.pipeline.syncOperations
            try sync.addHandler(tunnel, position: .before(self))
            sync.removeHandler(context: context, promise: nil)
            if let early = unparsed, early.readableBytes > 0 {
                unparsed = nil
                upstream.handler.writeTunnel(early)
                upstream.handler.flush()
            }
        } catch {
            runtime.logger.error("cannot open the tunnel", metadata: ["client": "\(clientAddress)", "error": "\(error)"])
            upstream.channel.close(promise: nil)
            context.close(promise: nil)
        }
    }

    /// A WebSocket over HTTP/2 (RFC 8441 §5): the node's 101 reaches the client as a 200 on the
    /// stream, without the handshake's HTTP/1.1 fields, and the stream and the node connection become
    /// one tunnel (``HTTP2Tunnel``). The access log says 200, as the client saw it.
    private func openHTTP2Tunnel(
        _ exchange: Exchange, _ head: NodeResponseHead, upstream: UpstreamConnection, stream: HTTP2Stream, context: ChannelHandlerContext
    ) {
        let downstream = HeaderRewriter.downstreamResponseHead(head, clientVersion: .http1_1, keepAlive: true, via: runtime.via)
        downstream.status = .ok
        // The handshake's own field, and framing that would bound a tunnel that has no length.
        for name in ["sec-websocket-accept", "content-length", "transfer-encoding"] { downstream.relayed.drop(named: name) }
        if let name = exchange.cluster.config.failover.nodeHeader {
            downstream.replaceOrAdd(name: name, value: exchange.nodeConfig.name)
        }
        exchange.machine.switchedProtocols(.ok)
        exchange.upstream = nil
        finish(exchange, upstreamReusable: false)
        writer.writeHead(downstream, context: context)
        writer.flush(context: context)
        let tunnel = HTTP2Tunnel(
            stream: stream, upstream: upstream, context: context,
            idleTimeout: TimeAmount(runtime.config.timeouts.tunnel), logger: runtime.logger,
            labels: .init(client: clientAddress, cluster: exchange.cluster.config.name, node: exchange.nodeConfig.name)
        )
        deadlines.stop()
        stream.openTunnel(tunnel)
    }

    func downstreamStalled() {
        guard let exchange, let context else { return }
        exchange.machine.closeAfterResponse()
        exchange.machine.abandoned(.clientStalled)
        finish(exchange, upstreamReusable: false)
        writer.discard()
        closeClient(context)
    }

    /// The exchange cannot complete: Latch's error if the client has seen nothing yet, else the
    /// connection is cut (the only way HTTP/1.1 can say "this response is incomplete").
    func fail(_ exchange: Exchange, _ failure: UpstreamFailure) {
        guard let context else { return }
        switch exchange.machine.failed(failure, connectionCloses: client.closesAfterResponse) {
        case .cut:
            finish(exchange, upstreamReusable: false)
            writer.flush(context: context)  // what the client already had in this read, then the cut
            closeClient(context)
        case .answer(let status):
            let keepAlive = exchange.machine.clientKeepAlive
            if !keepAlive { client.closeAfterResponse() }
            finish(exchange, upstreamReusable: false)
            let response = LocalResponse.replacing(failure, status: status, keepAlive: keepAlive, headRequest: exchange.request.method.isHEAD)
            respond(response, version: exchange.request.version, requestUnread: !exchange.machine.requestEnded, context: context)
        }
    }

    /// A request Latch answers without a node (refused, redirected, nothing to serve it): recorded,
    /// then answered. Whatever body follows the head is not read, so the connection stays open only
    /// when the request visibly has none.
    func answerLocally(
        _ head: ClientRequestHead, cluster: ClusterRuntime, node: Int?, reason: String, _ response: LocalResponse,
        start: NIODeadline
    ) {
        guard let context else { return }
        let hasBody = MessageFraming.requestHasBody(head)
        var response = response
        // `closesAfterResponse`: the client half-closed, or shutdown made this request the last.
        response.keepAlive = response.keepAlive && head.isKeepAlive && !hasBody && !MessageFraming.asksForUpgrade(head)
            && !client.closesAfterResponse
        response.headRequest = head.method.isHEAD
        let status = Int(response.status.code)
        let series = node.map { cluster.requestSeries[$0] } ?? cluster.unplacedSeries
        let reasonIndex = RequestSeries.reasonIndex(reason) ?? RequestSeries.reasonIndex(.rejected)
        let end = eventNow(context)
        series.record(shard: pool?.shard ?? 0, reason: reasonIndex, status: status, duration: end - start)
        runtime.accessLog.record(
            ExchangeOutcome(
                request: head, cluster: cluster.config.name, node: node.map { cluster.config.nodes[$0].name }, reason: reason,
                status: status, start: start, error: response.detail
            ).entry(client: clientAddress, end: end)
        )
        client.exchangeEnded(keepAlive: response.keepAlive)
        respond(response, version: head.version, requestUnread: hasBody, context: context)
    }

    /// Writes one of Latch's own answers and completes the response.
    func respond(_ response: LocalResponse, version: HTTPVersion, requestUnread: Bool, context: ChannelHandlerContext) {
        if response.keepAlive { deadlines.exchangeFinished(on: context.eventLoop, self) }
        writer.writeLocal(response, clientVersion: version, context: context)
        completed(writer.complete(keepAlive: response.keepAlive, requestUnread: requestUnread, context: context), context: context)
    }

    /// What the connection does once a response is complete.
    private func completed(_ completion: ResponseCompletion, context: ChannelHandlerContext) {
        switch completion {
        case .keepAlive:
            deliverHeld(context)
        case .streamEnds:
            break
        case .close(let written):
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .linger(let written, let shutOutput):
            written.assumeIsolated().whenComplete { [weak self] result in
                guard case .success = result, let self else {
                    context.close(promise: nil)  // HTTP/1 only: a stream's linger starts at once
                    return
                }
                self.linger(context, shutOutput: shutOutput)
            }
        }
    }

    /// After an answer given before the request was read: send FIN, then read and drop what the
    /// client is still sending, within ``ClientConnectionStateMachine/lingerLimit``. Closing at once
    /// with unread bytes would make the kernel send a reset, which can destroy the answer before the
    /// client reads it — a 413 would look like a network error (nginx's `lingering_close` does the
    /// same, for up to `lingering_time` 30 s). 2 s proved too short for a client uploading on a busy machine.
    private func linger(_ context: ChannelHandlerContext, shutOutput: Bool) {
        client.lingerStarted()
        if shutOutput { context.close(mode: .output, promise: nil) }
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(ClientConnectionStateMachine.lingerLimit.seconds)) {
            self.closeClient(context)
        }
        readClient(context)
    }
}
