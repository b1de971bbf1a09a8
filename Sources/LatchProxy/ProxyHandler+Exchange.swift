import LatchCore
import Logging
import NIOCore
import NIOHTTP1

/// An exchange's way to a node: routing and refusals, the node's queue, leasing a connection,
/// retries, and the bookkeeping when it ends.
extension ProxyHandler {
    func startExchange(_ head: ClientRequestHead, context: ChannelHandlerContext) {
        let start = eventNow(context)
        let generation = holder.generation
        if generation != runtimeGeneration {
            runtimeGeneration = generation
            let current = holder.current
            if current !== runtime {
                runtime = current
                pool = current.pool(for: context.eventLoop)
            }
        }
        // Taken apart at once: each use of a tuple's element copied the whole tuple (a generic
        // value-witness copy, not a few registers).
        let table = runtime.table
        // Only a `match` on a host reads it; a one-cluster table reads neither host nor path.
        let host = table.selector.firstMatchesAll ? nil : head.host?[...]
        let (clusterIndex, lookup, sessionPlace, sessionHash) = head.fields.withValueBytes(.cookie) { cookies -> (Int, RouteLookup, SessionIDPlace?, UInt64?) in
            let routed = table.routeWithSessionID(host: host, target: head.target, cookieBytes: cookies)
            let hash: UInt64? =
                switch routed.sessionID {
                case .target(let slice): SessionHash.hash(slice.utf8)
                case .cookie(let line, let range): SessionHash.hash(UnsafeRawBufferPointer(rebasing: cookies[line][range]).assumingMemoryBound(to: UInt8.self))
                case nil: nil
                }
            return (routed.cluster, routed.lookup, routed.sessionID, hash)
        }
        let cluster = runtime.clusters[clusterIndex]
        if let rejection = RequestValidator.validate(head, limits: runtime.config.limits) {
            runtime.metrics.requestRefused(rejection.metricReason)
            // A head two parsers may read differently must not be followed by anything Latch parses.
            let response = LocalResponse(status: rejection.status, detail: rejection.message, keepAlive: false)
            answerLocally(head, cluster: cluster, node: nil, reason: "rejected", response, start: start)
            return
        }
        if let port = redirectToHTTPS {
            let (response, reason) = LocalResponse.redirect(head, toHTTPSPort: port)
            answerLocally(head, cluster: cluster, node: nil, reason: reason, response, start: start)
            return
        }
        if head.method.isCONNECT {
            let response = LocalResponse(status: .notImplemented, detail: "CONNECT is not supported", keepAlive: true)
            answerLocally(head, cluster: cluster, node: nil, reason: "rejected", response, start: start)
            return
        }
        // Hop-by-hop, so removed from the node's head; put back for an upgrade Latch can carry as a tunnel.
        var upgrade: String?
        if case .forward(let protocols) = Exchange.upgradeOffer(head) { upgrade = protocols }
        let stay = StayState(cluster: cluster, lookup: lookup, sessionID: Exchange.sessionID(at: sessionPlace, in: head), cookies: head.values(.cookie))
        let placement = cluster.place(lookup, owner: stay.owner, grant: makeGrant(cluster: cluster))
        let decision: NodeDecision
        switch placement {
        case .unserved(let unserved):
            cluster.countUnserved(unserved.reason)
            let response = LocalResponse(status: .serviceUnavailable, detail: LocalResponse.message(for: .serviceUnavailable), keepAlive: true)
            answerLocally(head, cluster: cluster, node: lookup.node, reason: unserved.reason.rawValue, response, start: start)
            return
        case .queueFull(let full):
            runtime.metrics.requestRefused("queue_full")
            let response = LocalResponse(status: .serviceUnavailable, detail: LocalResponse.busyMessage, keepAlive: true)
            answerLocally(head, cluster: cluster, node: full.node, reason: full.reason.rawValue, response, start: start)
            return
        case .admitted(let admitted), .queued(let admitted, _):
            decision = admitted
        }
        let exchange = Exchange(
            request: head,
            // No Host and no authority in the target (HTTP/1.0): each attempt names its node instead.
            hostFromNode: !head.contains(.host) && RequestTarget.splitAbsoluteForm(head.target) == nil,
            lookup: lookup,
            cluster: cluster,
            node: decision.node!,
            reason: decision.reason,
            start: start
        )
        exchange.sessionPlace = sessionPlace
        exchange.sessionHash = sessionHash
        exchange.upgrade = upgrade
        exchange.owner = stay.owner
        exchange.hadOwnerCookie = stay.hadOwnerCookie
        self.exchange = exchange
        proceed(exchange, placement)
    }

    /// Leases a connection for an admitted exchange, or lets a queued one wait for its grant.
    private func proceed(_ exchange: Exchange, _ placement: Placement) {
        guard case .queued(_, let ticket) = placement else {
            if exchange.machine.placed(.admitted) { lease(for: exchange, forceNew: false) }
            return
        }
        _ = exchange.machine.placed(.queued(ticket: ticket))
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
        // Tickets are numbered per node: the node must match too.
        guard let exchange, exchange.cluster === cluster, exchange.node == node, context != nil, exchange.machine.granted(ticket: ticket)
        else {
            cluster.finished(node: node)
            return
        }
        exchange.queueTimer?.cancel()
        exchange.queueTimer = nil
        lease(for: exchange, forceNew: false)
    }

    private func queueTimedOut(_ exchange: Exchange) {
        guard self.exchange === exchange, let ticket = exchange.machine.queueTicket,
            exchange.cluster.cancelQueued(node: exchange.node, ticket: ticket, timedOut: true)
        else { return }  // the grant is on its way
        exchange.machine.leftQueue()
        exchange.queueTimer = nil
        runtime.metrics.requestRefused("queue_timeout")
        fail(exchange, .queueTimedOut)
    }

    func lease(for exchange: Exchange, forceNew: Bool) {
        guard let pool else { return }
        // The common keep-alive case needs no completion closure (nor a `Result` to pass around).
        if !forceNew, let connection = pool.takeIdle(exchange.key) {
            connected(connection, for: exchange)
            return
        }
        // Holds this handler until the connect ends (at most `timeouts.connect`); `connected` sees
        // whether the client is still there.
        pool.lease(exchange.key, address: exchange.nodeConfig.address, tls: exchange.cluster.tls, forceNew: forceNew) { result in
            switch result {
            case .success(let connection):
                self.connected(connection, for: exchange)
            case .failure(let failure):
                // The same path as a broken connection: passive detection, then maybe another node.
                guard self.exchange === exchange, self.context != nil else { return }
                self.upstreamFailed(failure)
            }
        }
    }

    /// A buffer for the node's request head: one of the loop's spare ones when there is one.
    private func writeBuffer(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        pool?.buffers.take(capacity: 1024, allocator: allocator) ?? allocator.buffer(capacity: 1024)
    }

    private func connected(_ connection: UpstreamConnection, for exchange: Exchange) {
        guard self.exchange === exchange, context != nil else {
            // The client went away while we were connecting: the fresh connection is still clean.
            pool?.release(connection, reusable: true)
            return
        }
        exchange.upstream = connection
        connection.handler.delegate = self
        if exchange.wire == nil || (exchange.hostFromNode && exchange.wireNode != exchange.node) {
            exchange.wire = HeaderRewriter.upstreamRequest(
                exchange.request, forwarded: runtime.forwarded, clientIP: clientIP, scheme: scheme,
                upgrade: exchange.upgrade, nodeHost: exchange.hostFromNode ? exchange.nodeConfig.address.description : nil,
                into: writeBuffer(connection.channel.allocator))
            exchange.wireNode = exchange.node
        }
        connection.handler.writeHead(exchange.wire!)
        for part in exchange.machine.connected() {
            if isUnframedBody(part, on: connection) {
                refuseMidRequest(exchange, Self.unframedBody)
                return
            }
            connection.handler.write(part)
        }
        // Within a read of the client's bytes, the rest of the request (a GET's end, a body's first
        // bytes) may follow in the same read: one flush when it is done.
        upstreamNeedsFlush = true
        if !inClientRead { flushUpstreamIfNeeded() }
        connection.handler.startWatchdog(interval: runtime.timeouts.upstreamResponse, at: eventTime)
        resumeClientReads()
    }

    // MARK: - Failures and retries

    func upstreamFailed(_ failure: UpstreamFailure) {
        guard let exchange else { return }
        let attempt = exchange.attempt(failedWith: failure, at: eventTime ?? context?.eventLoop.now ?? .now())
        let rule = RetryRule(exchange.cluster.config.failover)
        let verdict = rule.verdict(attempt)
        if verdict == .sameNodeFreshConnection, let upstream = exchange.upstream {
            exchange.upstream = nil
            pool?.release(upstream, reusable: false)
            exchange.machine.retryOnFreshConnection()
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
    func notePassiveFailure(_ exchange: Exchange, _ failure: UpstreamFailure) {
        guard failure.isNodeFault, failure != .timeout || !exchange.machine.wroteRequest else {
            // A slow answer is the node's business; the watchdog already answered 504.
            return
        }
        switch failure {
        case .connectFailed, .connectRefused, .connectTimedOut:
            runtime.metrics.connectError(cluster: exchange.cluster.config.name, node: exchange.nodeConfig.name)
        default:
            break
        }
        let kind: PassiveEjection<MonotonicInstant>.Failure = failure.isRefused ? .refused : .counted
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
        if exchange.machine.leaveNode() { exchange.cluster.finished(node: exchange.node) }
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
        proceed(exchange, placement)
    }

    /// The request broke a rule after it was sent on: the node's connection is closed (it holds a
    /// partial request), and the client gets `rejection` unless its response has begun.
    func refuseMidRequest(_ exchange: Exchange, _ rejection: RequestRejection) {
        guard let context else { return }
        client.closeAfterResponse()
        exchange.machine.closeAfterResponse()
        let failure = UpstreamFailure.clientRejected(rejection.status, rejection.message)
        guard exchange.machine.responseStarted else {
            fail(exchange, failure)
            return
        }
        exchange.machine.abandoned(failure)
        finish(exchange, upstreamReusable: false)
        closeClient(context)
    }

    /// The client went silent in the middle of its request body for `timeouts.idle`.
    func requestBodyTimedOut() {
        guard let context else { return }
        guard let exchange, !exchange.machine.responseStarted else {
            closeClient(context)
            return
        }
        client.closeAfterResponse()
        exchange.machine.closeAfterResponse()
        fail(exchange, .clientTimedOut)
    }

    // MARK: - The end of an exchange

    /// Bookkeeping when an exchange ends, once, before its last bytes are written.
    func finish(_ exchange: Exchange, upstreamReusable: Bool) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        exchange.queueTimer?.cancel()
        let (releasingSlot, ticket) = exchange.machine.settle()
        if let ticket { _ = exchange.cluster.cancelQueued(node: exchange.node, ticket: ticket, timedOut: false) }
        client.exchangeEnded(keepAlive: exchange.machine.clientKeepAlive)
        let failure = exchange.machine.failure
        let shard = pool?.shard ?? 0
        exchange.cluster.exchangeEnded(
            node: exchange.node, releasingSlot: releasingSlot, reason: exchange.reason, nodeFailed: failure?.isNodeFault ?? false,
            sighting: exchange.reason.isExistingSession && failure == nil, sessionHash: exchange.sessionHash, shard: shard)
        // Only a session cookie the client was given: a head replaced by a 502 never reached it.
        if !exchange.issuedSessions.isEmpty, exchange.machine.responseStarted {
            exchange.cluster.noteIssuedSessions(
                exchange.issuedSessions, servedBy: exchange.node, requestSessionID: exchange.sessionID, shard: shard)
        }
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            pool?.release(upstream, reusable: upstreamReusable, at: eventTime)
        }
        // Written long since (a retry would have sent it again): the buffer serves the next exchange.
        if let wire = exchange.wire.take() { pool?.buffers.giveBack(wire.head) }
        pool?.buffers.giveBack(table: exchange.request.fields.lines)
        let status = exchange.machine.responseStatus.map { Int($0.code) }
        // On the clock `start` was read from.
        let end = eventTime ?? context?.eventLoop.now ?? .now()
        exchange.cluster.requestSeries[exchange.node].record(
            shard: pool?.shard ?? 0, reason: RequestSeries.reasonIndex(exchange.reason), status: status,
            duration: end - exchange.start)
        runtime.accessLog.record(ExchangeOutcome(exchange).entry(client: clientAddress, end: end))
        if let failure, failure.isNodeFault {
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
}
