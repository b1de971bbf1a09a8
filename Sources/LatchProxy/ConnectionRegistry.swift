import NIOConcurrencyHelpers
import NIOCore

/// The open client connections, so shutdown can ask each to finish its current exchange and close.
///
/// ``ProxyHandler`` understands `ChannelShouldQuiesceEvent`: a busy connection closes after its
/// current response (with `Connection: close`), one between requests after one more request or a
/// second without one (``ClientConnectionStateMachine/quiesce(headUnderway:)``). This is the same
/// protocol NIOExtras' `ServerQuiescingHelper` drives, kept here so several listeners share one registry
/// and nothing outlives the event loops.
/// Sent to a connection still open when shutdown's grace runs out, just before it is closed: the
/// exchange that close ends was cut by Latch stopping, and its access line says so.
struct ShutdownGraceOverEvent {}

final class ConnectionRegistry: Sendable {
    private let state = NIOLockedValueBox<State>(State())

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    enum Admission {
        case accepted
        /// `limit` connections are open already: the caller answers 503.
        case overLimit
    }

    /// Registers a new client connection if fewer than `limit` are open (`limits.max_client_connections`).
    /// One accepted just as shutdown began (the listener was closing) is registered all the same: its
    /// client sent a request expecting an answer, and its handler serves it as the last one
    /// (``RuntimeHolder/isQuiescing``); closing it would fail that request.
    func add(_ channel: any Channel, limit: Int) -> Admission {
        let admission = state.withLockedValue { state -> Admission in
            guard state.channels.count < limit else { return .overLimit }
            state.channels[ObjectIdentifier(channel)] = channel
            return .accepted
        }
        if case .accepted = admission {
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
        let channels = state.withLockedValue { Array($0.channels.values) }
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
