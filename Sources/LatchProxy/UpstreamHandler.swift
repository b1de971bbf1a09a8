import NIOCore
import NIOHTTP1

/// What an upstream connection tells the client-side exchange that leased it.
protocol UpstreamDelegate: AnyObject {
    func upstreamResponsePart(_ part: HTTPClientResponsePart)
    /// The connection failed or closed before the response ended.
    func upstreamFailed(_ failure: UpstreamFailure)
    /// The upstream can take more request bytes (or not): the client side reads only while it can.
    func upstreamWritabilityChanged(_ writable: Bool)
    /// A batch of reads ended: time to flush what was relayed to the client.
    func upstreamReadComplete()
    /// Whether the client can take more response bytes: the upstream side reads only while it can.
    var downstreamWritable: Bool { get }
}

/// How an upstream exchange went wrong, in the words the access log and the client get.
enum UpstreamFailure: Error, Equatable {
    case connectFailed(String)
    case connectTimedOut
    /// Not the node's fault: the client stopped sending its request body.
    case clientTimedOut
    case closedBeforeResponse
    case closedMidResponse
    case badResponse(String)
    case timeout

    var logDescription: String {
        switch self {
        case .connectFailed(let reason): "connect failed: \(reason)"
        case .connectTimedOut: "connect timed out"
        case .clientTimedOut: "client stopped sending the request body"
        case .closedBeforeResponse: "connection closed before the response"
        case .closedMidResponse: "connection closed during the response"
        case .badResponse(let reason): "invalid response: \(reason)"
        case .timeout: "timed out waiting for the response"
        }
    }
}

/// The last handler of an upstream connection's pipeline. It relays response parts to whichever
/// exchange has leased the connection, holds reads while that client cannot take more bytes
/// (the GlueHandler rule from swift-nio-examples), and keeps the response-inactivity deadline.
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var delegate: (any UpstreamDelegate)?
    /// Called when the channel closes, so the pool can forget an idle connection.
    var onClose: (() -> Void)?
    private(set) var context: ChannelHandlerContext?
    private var pendingRead = false
    private var responseTimer: Scheduled<Void>?
    private var responseTimeout: TimeAmount?
    /// True between the end of a request and the end of its response: the upstream owes us bytes.
    private(set) var awaitingResponse = false
    private(set) var responseInProgress = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Writing the request

    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Starts (or restarts) the response deadline: the upstream must send something within `timeout`.
    func expectResponse(within timeout: TimeAmount) {
        responseTimeout = timeout
        responseInProgress = true
        armResponseTimer()
    }

    /// Forgets the exchange: the response ended or the lease is being given back.
    func detach() {
        delegate = nil
        responseInProgress = false
        responseTimer?.cancel()
        responseTimer = nil
        responseTimeout = nil
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    private func armResponseTimer() {
        responseTimer?.cancel()
        guard let timeout = responseTimeout, let context else { return }
        responseTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            guard let self, self.responseInProgress else { return }
            if self.pendingRead {
                // We stopped reading because the client is slow to take the response: not the node's fault.
                self.armResponseTimer()
                return
            }
            let delegate = self.delegate
            self.delegate = nil
            self.responseInProgress = false
            self.context?.close(promise: nil)
            delegate?.upstreamFailed(.timeout)
        }
    }

    /// The client became writable again: resume reading the response.
    func resumeReading() {
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    // MARK: Events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if responseTimer != nil { armResponseTimer() }
        if case .end = part {
            responseInProgress = false
            responseTimer?.cancel()
            responseTimer = nil
        }
        if let delegate {
            delegate.upstreamResponsePart(part)
        } else {
            // A response nobody asked for (a node talking on an idle connection): never reuse it.
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if let delegate, !delegate.downstreamWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let delegate = self.delegate
        self.delegate = nil
        context.close(promise: nil)
        // Whether the client already saw part of the response is the exchange's to know.
        delegate?.upstreamFailed(error is HTTPParserError ? .badResponse("\(error)") : .closedBeforeResponse)
    }

    func channelInactive(context: ChannelHandlerContext) {
        responseTimer?.cancel()
        responseTimer = nil
        let delegate = self.delegate
        self.delegate = nil
        onClose?()
        onClose = nil
        delegate?.upstreamFailed(.closedBeforeResponse)
        context.fireChannelInactive()
    }
}
