import NIOConcurrencyHelpers
import NIOCore

/// The open connections of one listening socket, so `close()` and a crash can end them too (closing a
/// NIO server channel only stops accepting).
final class ConnectionTracker: Sendable {
    private struct State {
        var closed = false
        var channels: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Records `channel` until it closes; false once `closeAll()` has run.
    func register(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLockedValue { state in
            guard !state.closed else { return false }
            state.channels[id] = channel
            return true
        }
        if accepted {
            channel.closeFuture.whenComplete { _ in
                self.state.withLockedValue { _ = $0.channels.removeValue(forKey: id) }
            }
        }
        return accepted
    }

    /// Marks the server closed and hands back the connections still open.
    func closeAll() -> [any Channel] {
        state.withLockedValue { state in
            state.closed = true
            let open = Array(state.channels.values)
            state.channels.removeAll()
            return open
        }
    }
}
