/// What real traffic says about one node (`passive:`), as a plain value driven by explicit instants so
/// it is tested without a clock.
///
/// A refused connection ejects at once: nothing listens on the node's port, and every further request
/// would fail the same way. Other failures (resets, connect timeouts, 5xx with `on_5xx`) eject after
/// `failures` of them within `window`. An ejected node stays out for at least `eject_for`; after that
/// the next passing active check brings it back, or, for a node without active checks, the end of
/// `eject_for` does (it is then on probation: the next failure inside `window` counts as usual).
public struct PassiveEjection<Instant: InstantProtocol>: Sendable where Instant.Duration == Swift.Duration {
    public enum Failure: Sendable, Equatable {
        /// The connection was refused: eject now.
        case refused
        /// Reset, connect timeout, a 5xx answer with `on_5xx`…: counts toward `failures`.
        case counted
    }

    public let config: PassiveHealthConfig
    /// Whether active checks decide re-admission.
    public let activelyChecked: Bool
    private var recent: [Instant] = []
    public private(set) var ejectedUntil: Instant?

    public init(config: PassiveHealthConfig, activelyChecked: Bool) {
        self.config = config
        self.activelyChecked = activelyChecked
    }

    /// Records a failure seen on real traffic; returns true when it ejected the node.
    public mutating func record(_ failure: Failure, at now: Instant) -> Bool {
        guard config.failures > 0, !isEjected(at: now) else { return false }
        switch failure {
        case .refused:
            eject(at: now)
            return true
        case .counted:
            let window = config.window
            recent.removeAll { $0.duration(to: now) > window }
            recent.append(now)
            guard recent.count >= config.failures else { return false }
            eject(at: now)
            return true
        }
    }

    /// An active check passed: re-admits the node once `eject_for` is over.
    public mutating func activeCheckPassed(at now: Instant) {
        if let until = ejectedUntil, now >= until {
            ejectedUntil = nil
        }
    }

    /// Inlinable so that the request path, which asks it for every node on every placement, gets a
    /// version specialized for its clock: the generic one looks up `Optional<Instant>`'s metadata
    /// at run time, about 500 instructions a call.
    @inlinable
    public func isEjected(at now: Instant) -> Bool {
        guard let until = ejectedUntil else { return false }
        return activelyChecked || now < until
    }

    private mutating func eject(at now: Instant) {
        recent.removeAll()
        ejectedUntil = now.advanced(by: config.ejectFor)
    }
}
