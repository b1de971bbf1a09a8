#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point on the monotonic clock (`CLOCK_MONOTONIC`, as SwiftNIO's deadlines) as whole nanoseconds: the instant the
/// runtime's bookkeeping keys on — admission and passive ejection at placement, drain's session
/// counters at an exchange's end, slow start, the drain watcher.
///
/// Why not `ContinuousClock.Instant`: it is resilient (its layout is the standard library's to
/// change), so outside that library every copy, comparison and `Optional` of it goes through value
/// witnesses, and the request path handles several instants per request. This one is a plain integer.
/// Durations are `Swift.Duration`, as `LatchCore`'s decisions expect; conversions saturate rather
/// than trap, so "no deadline" spelled as a huge duration stays far in the future.
public struct MonotonicInstant: InstantProtocol, Sendable {
    public typealias Duration = Swift.Duration

    public let nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    public static var now: MonotonicInstant {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return MonotonicInstant(nanoseconds: Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec))
    }

    public func advanced(by duration: Duration) -> MonotonicInstant {
        let (sum, overflow) = nanoseconds.addingReportingOverflow(duration.wholeNanoseconds)
        return MonotonicInstant(nanoseconds: overflow ? (duration < .zero ? .min : .max) : sum)
    }

    public func duration(to other: MonotonicInstant) -> Duration {
        let (difference, overflow) = other.nanoseconds.subtractingReportingOverflow(nanoseconds)
        return overflow ? (other.nanoseconds < nanoseconds ? .nanoseconds(Int64.min) : .nanoseconds(Int64.max)) : .nanoseconds(difference)
    }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at the bounds of `Int64` (±292 years) instead of trapping.
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
