import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One thing a ``RawBackend`` does on a connection, in script order.
enum RawStep: Sendable {
    /// Write these bytes as they are.
    case send([UInt8])
    /// Do nothing for a while, then go on with the script.
    case wait(TimeAmount)
    /// Write the bytes one at a time, `every` apart.
    case drip([UInt8], every: TimeAmount)
    /// Close the connection (FIN).
    case close
    /// Reset the connection: `SO_LINGER` 0, then close, so the peer gets an RST.
    case reset
    /// Stop here: the connection stays open, keeps recording, and nothing else is ever sent on it.
    case hang

    static func send(_ text: String) -> RawStep { .send(Array(text.utf8)) }
    static func drip(_ text: String, every: TimeAmount) -> RawStep { .drip(Array(text.utf8), every: every) }
}

/// A complete request as a ``RawBackend`` framed it from the bytes it received.
struct RawRequest: Sendable {
    /// Which accepted connection (0 = the first) and which request on it (0 = the first).
    var connection: Int
    var index: Int
    /// The head exactly as received, up to and including the blank line.
    var head: String
    /// The body exactly as received (still chunked if it came chunked).
    var rawBody: [UInt8]
    /// The body with chunked framing removed.
    var body: [UInt8]

    var requestLine: Substring { head.prefix { $0 != "\r" } }
    var method: Substring { requestLine.prefix { $0 != " " } }
    var target: Substring { requestLine.split(separator: " ").dropFirst().first ?? "" }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var rawBodyText: String { String(decoding: rawBody, as: UTF8.self) }

    /// The values of every header line named `name` (ignoring case), as received.
    func headers(_ name: String) -> [String] {
        head.components(separatedBy: "\r\n").dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() else { return nil }
            return RawRequestFramer.trimmed(line[line.index(after: colon)...])
        }
    }
}

/// What a ``RawBackend`` saw on one accepted connection.
struct RawConnectionRecord: Sendable {
    /// Every byte received, in order.
    var bytes: [UInt8] = []
    var requests: [RawRequest] = []
    /// The connection has closed (either side).
    var closed = false
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// A test node below HTTP: a TCP server on 127.0.0.1:0 with no codec that records every byte it
/// receives per connection, counts accepts, and answers with scripted bytes (``RawStep``): valid or
/// broken responses, waits, slow drips, FIN, RST or silence. Tests assert exactly what Latch sent
/// upstream (how many requests, how they were framed) and how Latch copes with a misbehaving node.
///
/// It frames requests only to know when to answer: a head, then a `Content-Length` body or a chunked
/// body; bytes it cannot frame stay in ``RawConnectionRecord/bytes`` and are never answered.
final class RawBackend: Sendable {
    typealias Script = @Sendable (RawRequest) -> [RawStep]

    let name: String
    private let channel: any Channel
    private let state: NIOLockedValueBox<State>

    fileprivate struct State {
        var connections: [RawConnectionRecord] = []
        var children: [any Channel] = []
        var onAccept: @Sendable (Int) -> [RawStep]
        var script: Script
    }

    var port: Int { channel.localAddress!.port! }
    var accepted: Int { state.withLockedValue { $0.connections.count } }
    var connections: [RawConnectionRecord] { state.withLockedValue { $0.connections } }
    /// Every complete request, by connection, then in order on each connection.
    var requests: [RawRequest] {
        state.withLockedValue { $0.connections.flatMap(\.requests) }.sorted { ($0.connection, $0.index) < ($1.connection, $1.index) }
    }
    /// How many bytes were received, over all connections.
    var receivedBytes: Int { state.withLockedValue { $0.connections.reduce(0) { $0 + $1.bytes.count } } }

    /// Changes what the backend does with requests (and with new connections) from now on.
    func setScript(onAccept: @escaping @Sendable (Int) -> [RawStep] = { _ in [] }, _ script: @escaping Script) {
        state.withLockedValue {
            $0.onAccept = onAccept
            $0.script = script
        }
    }

    /// Keeps the port while the test holds the backend, so after ``close()`` it refuses instead of
    /// being taken by another suite's server (see ``PortReservation``).
    private let reservation: PortReservation

    private init(name: String, channel: any Channel, state: NIOLockedValueBox<State>, reservation: PortReservation) {
        self.name = name
        self.channel = channel
        self.state = state
        self.reservation = reservation
    }

    /// - Parameters:
    ///   - onAccept: steps run as soon as connection number N is accepted, before any request.
    ///   - script: steps run for each complete request, after the steps before it have run.
    static func start(
        name: String,
        group: any EventLoopGroup,
        onAccept: @escaping @Sendable (Int) -> [RawStep] = { _ in [] },
        script: @escaping Script = { _ in [.send(RawBackend.ok("hello"))] }
    ) async throws -> RawBackend {
        let state = NIOLockedValueBox(State(onAccept: onAccept, script: script))
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(PortReservation.sharedPortOption, value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let index = state.withLockedValue {
                        $0.connections.append(RawConnectionRecord())
                        $0.children.append(channel)
                        return $0.connections.count - 1
                    }
                    try channel.pipeline.syncOperations.addHandler(RawBackendHandler(index: index, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let reservation = try PortReservation(port: channel.localAddress!.port!)
        return RawBackend(name: name, channel: channel, state: state, reservation: reservation)
    }

    /// Stops listening (the port then refuses connections) and closes every accepted connection.
    func close() async {
        try? await channel.close()
        let children = state.withLockedValue { state in
            defer { state.children = [] }
            return state.children
        }
        for child in children { try? await child.close() }
    }

    /// Polls until `condition` holds, or `timeout` passes; returns whether it held.
    @discardableResult
    func wait(timeout: Duration = .seconds(10), until condition: (RawBackend) -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition(self) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }

    /// A well-framed response with a `Content-Length`; `headers` are extra lines, each ending in CRLF.
    static func ok(_ body: String, status: String = "200 OK", headers: String = "") -> String {
        "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n\(headers)\r\n\(body)"
    }
}

/// Runs the scripts of one accepted connection on its event loop.
private final class RawBackendHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let index: Int
    private let state: NIOLockedValueBox<RawBackend.State>
    private var buffer: [UInt8] = []
    private var requestsFramed = 0
    private var queue: [RawStep] = []
    private var running = false
    private var paused = false
    private var hung = false
    private var context: ChannelHandlerContext?

    init(index: Int, state: NIOLockedValueBox<RawBackend.State>) {
        self.index = index
        self.state = state
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let onAccept = state.withLockedValue { $0.onAccept }
        queue.append(contentsOf: onAccept(index))
        runQueue()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        buffer.append(contentsOf: bytes)
        state.withLockedValue { $0.connections[index].bytes.append(contentsOf: bytes) }
        while let (request, used) = RawRequestFramer.frame(buffer, connection: index, index: requestsFramed) {
            buffer.removeFirst(used)
            requestsFramed += 1
            let script = state.withLockedValue { state in
                state.connections[index].requests.append(request)
                return state.script
            }
            queue.append(contentsOf: script(request))
        }
        runQueue()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLockedValue { $0.connections[index].closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset from Latch: the connection is gone, which channelInactive records.
        context.close(promise: nil)
    }

    private func runQueue() {
        guard !running, !paused, !hung, let context else { return }
        running = true
        defer { running = false }
        while !queue.isEmpty, !hung {
            let step = queue.removeFirst()
            switch step {
            case .send(let bytes):
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
            case .wait(let delay):
                // Requests framed meanwhile queue behind the pause.
                paused = true
                context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                    self.paused = false
                    self.runQueue()
                }
                return
            case .drip(let bytes, let every):
                queue.insert(contentsOf: bytes.flatMap { [RawStep.send([$0]), .wait(every)] }, at: 0)
            case .close:
                hung = true
                context.close(promise: nil)
            case .reset:
                hung = true
                let channel = context.channel
                if let provider = channel as? any SocketOptionProvider {
                    provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                } else {
                    channel.close(promise: nil)
                }
            case .hang:
                hung = true
                queue.removeAll()
            }
        }
    }
}

/// Frames HTTP/1.1 requests the way a lenient origin server would, only to know when one is complete.
enum RawRequestFramer {
    /// The first complete request in `bytes` and how many bytes it used, or nil if it is incomplete
    /// or cannot be framed.
    static func frame(_ bytes: [UInt8], connection: Int, index: Int) -> (RawRequest, Int)? {
        guard let headEnd = find([13, 10, 13, 10], in: bytes, from: 0) else { return nil }
        let headCount = headEnd + 4
        let head = String(decoding: bytes[0..<headCount], as: UTF8.self)
        var request = RawRequest(connection: connection, index: index, head: head, rawBody: [], body: [])
        if request.headers("transfer-encoding").contains(where: { $0.lowercased().hasSuffix("chunked") }) {
            guard let (body, used) = dechunk(bytes, from: headCount) else { return nil }
            request.rawBody = Array(bytes[headCount..<(headCount + used)])
            request.body = body
            return (request, headCount + used)
        }
        let length = request.headers("content-length").first.flatMap { Int($0) } ?? 0
        guard bytes.count >= headCount + length else { return nil }
        request.rawBody = Array(bytes[headCount..<(headCount + length)])
        request.body = request.rawBody
        return (request, headCount + length)
    }

    /// A chunked body starting at `start`: the data and the bytes it used (through the final CRLF).
    static func dechunk(_ bytes: [UInt8], from start: Int) -> ([UInt8], Int)? {
        var body: [UInt8] = []
        var at = start
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: at) else { return nil }
            let line = String(decoding: bytes[at..<lineEnd], as: UTF8.self)
            let sizeText = trimmed(line.prefix { $0 != ";" })
            guard let size = Int(sizeText, radix: 16) else { return nil }
            at = lineEnd + 2
            if size == 0 {
                // Trailers, then the blank line.
                while true {
                    guard let end = find([13, 10], in: bytes, from: at) else { return nil }
                    let empty = end == at
                    at = end + 2
                    if empty { return (body, at - start) }
                }
            }
            guard bytes.count >= at + size + 2 else { return nil }
            body.append(contentsOf: bytes[at..<(at + size)])
            at += size + 2
        }
    }

    /// Without leading and trailing spaces and tabs.
    static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var i = start
        while i <= bytes.count - needle.count {
            if bytes[i] == needle[0], Array(bytes[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}
