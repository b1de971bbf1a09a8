import LatchCore
import NIOConcurrencyHelpers

/// Lets one log line through per `interval` for an event a hostile or broken peer can repeat at will
/// (refused connections, bad PROXY headers): the count goes to a metric, the log gets a sample.
final class LogThrottle: Sendable {
    let interval: Duration
    private let lastLogged = NIOLockedValueBox<MonotonicInstant?>(nil)

    init(interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// Whether a line may be logged now; if so, the next one waits `interval`.
    func allows(now: MonotonicInstant = .now) -> Bool {
        lastLogged.withLockedValue { last in
            guard last.map({ $0.duration(to: now) >= interval }) ?? true else { return false }
            last = now
            return true
        }
    }
}
