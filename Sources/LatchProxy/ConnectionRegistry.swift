import NIOConcurrencyHelpers
import NIOCore

/// The open client connections, so shutdown can ask each to finish its current exchange and close.
///
/// `HTTPServerPipelineHandler` understands `ChannelShouldQuiesceEvent`: an idle keep-alive connection
/// closes at once, a busy one closes after its response (with `Connection: close`). This is the same
/// protocol NIOExtras' `ServerQuiescingHelper` drives, kept here so several listeners share one registry
/// and nothing outlives the event loops.
final class ConnectionRegistry: Sendable {
    private let state = NIOLockedValueBox<State>(State())

    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var quiescing = false
    }

    /// Registers a new client connection; returns false (and closes it) when shutdown has begun.
    func add(_ channel: any Channel) -> Bool {
        let accepted = state.withLockedValue { state -> Bool in
            guard !state.quiescing else { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            return false
        }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLockedValue { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
        }
        return true
    }

    var count: Int { state.withLockedValue { $0.channels.count } }

    /// Asks every connection to close after its current exchange, and waits until all have closed or
    /// `grace` has passed; then closes what is left.
    func quiesce(grace: Duration) async {
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
        for channel in state.withLockedValue({ Array($0.channels.values) }) {
            try? await channel.close()
        }
    }
}
