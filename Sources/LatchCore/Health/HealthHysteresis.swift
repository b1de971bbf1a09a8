/// The active-check view of one node: up or down, moved only by streaks of results (HAProxy's
/// `rise`/`fall`), so a single slow or failed check does not move sessions around.
///
/// With `initial: down` the node starts down, but its very first passing check brings it up: a Latch
/// that restarts should not wait `rise × interval` before serving nodes that were fine all along.
/// With `initial: up` it starts up and needs `fall` failures like any up node.
public struct HealthHysteresis: Sendable, Equatable {
    public enum Transition: Sendable, Equatable {
        case wentUp
        case wentDown
    }

    public let rise: Int
    public let fall: Int
    public private(set) var isUp: Bool
    /// No check has completed yet.
    public private(set) var isUndecided = true
    private var passes = 0
    private var failures = 0

    public init(rise: Int, fall: Int, initiallyUp: Bool) {
        precondition(rise >= 1 && fall >= 1, "rise and fall are validated to be at least 1")
        self.rise = rise
        self.fall = fall
        self.isUp = initiallyUp
    }

    public init(_ config: HealthCheckConfig) {
        self.init(rise: config.rise, fall: config.fall, initiallyUp: config.initial == .up)
    }

    /// A reloaded check configuration for a node that was already being checked: its verdict (and
    /// whether it had one) carries over, so a reload does not make nodes look up or down for a while.
    public init(_ config: HealthCheckConfig, keeping old: HealthHysteresis) {
        self.init(rise: config.rise, fall: config.fall, initiallyUp: old.isUp)
        self.isUndecided = old.isUndecided
    }

    /// Records one check's result; returns the state change it caused, if any.
    public mutating func record(passed: Bool) -> Transition? {
        let first = isUndecided
        isUndecided = false
        if passed {
            failures = 0
            guard !isUp else { return nil }
            passes += 1
            guard first || passes >= rise else { return nil }
            passes = 0
            isUp = true
            return .wentUp
        } else {
            passes = 0
            guard isUp else { return nil }
            failures += 1
            guard failures >= fall else { return nil }
            failures = 0
            isUp = false
            return .wentDown
        }
    }
}
