import NIOConcurrencyHelpers
import NIOCore

/// The open client connections, so shutdown can ask each to finish its current exchange and close.
///
/// ``ProxyHandler`` understands `ChannelShouldQuiesceEvent`: an idle keep-alive connection
/// closes at once, a busy one closes after its response (with `Connection: close`). This is the same
/// protocol NIOExtras' `ServerQuiescingHelper` drives, kept here so several listeners share one registry
/// and nothing outlives the event loops.
/// Sent to a connection still open when shutdown's grace runs out, just before it is closed: the
/// exchange that close ends was cut by Latch stopping, and its access line says so.
struct ShutdownGraceOverEvent {}

final class ConnectionRegistry: Sendable {
    private let state = NIOLockedValueBox<State>(State())

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var quiescing = false
    }

    enum Admission {
        case accepted
        /// Shutdown has begun: the connection was closed.
        case shuttingDown
        /// `limit` connections are open already: the caller answers 503.
        case overLimit
    }

    /// Registers a new client connection if fewer than `limit` are open (`limits.max_client_connections`).
    func add(_ channel: any Channel, limit: Int) -> Admission {
        let admission = state.withLockedValue { state -> Admission in
            guard !state.quiescing else { return .shuttingDown }
            guard state.channels.count < limit else { return .overLimit }
            state.channels[ObjectIdentifier(channel)] = channel
            return .accepted
        }
        switch admission {
        case .shuttingDown:
            channel.close(promise: nil)
        case .overLimit:
            break
        case .accepted:
            channel.closeFuture.whenComplete { [self] _ in
                _ = state.withLockedValue { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
            }
        }
        return admission
    }

    var count: Int { state.withLockedValue { $0.channels.count } }

    /// Asks every connection to close after its current exchange, and waits until all have closed or
    /// `grace` has passed; then closes what is left.
    /// Returns how many connections were still open when the grace ran out (and were closed).
    @discardableResult
    func quiesce(grace: Duration) async -> Int {
        let channels = state.withLockedValue { state in
            state.quiescing = true
            return Array(state.channels.values)
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while clock.now < deadline, count > 0 {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = state.withLockedValue { Array($0.channels.values) }
        for channel in left {
            // Ordered before the close on the channel's loop: its handler logs the exchange it cuts as cut.
            channel.pipeline.fireUserInboundEventTriggered(ShutdownGraceOverEvent())
            try? await channel.close()
        }
        return left.count
    }
}
