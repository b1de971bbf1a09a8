/// At most `maximum` events in any `window` of time: what keeps a client from costing Latch work
/// without end through frames that each look harmless — resets of streams just opened (the "rapid
/// reset" attack, CVE-2023-44487), stream errors, PING, SETTINGS and PRIORITY floods (CVE-2019-9512,
/// -9515). The limits are swift-nio-http2's defaults: 200 in 30 s each.
///
/// Times are given (nanoseconds of a monotonic clock), so tests name them instead of waiting.
struct H2RateLimit: Equatable {
    let maximum: Int
    let window: UInt64
    /// The latest `maximum` events' times, oldest at `next` once full.
    private var times: [UInt64] = []
    private var next = 0

    init(maximum: Int = 200, windowNanoseconds: UInt64 = 30_000_000_000) {
        precondition(maximum > 0, "a rate limit of no events")
        self.maximum = maximum
        self.window = windowNanoseconds
    }

    /// Records an event at `now`; `false` when it is one too many: `maximum` others fell within
    /// `window` before it.
    mutating func record(now: UInt64) -> Bool {
        guard times.count == maximum else {
            times.append(now)
            return true
        }
        let oldest = times[next]
        times[next] = now
        next = (next + 1) % maximum
        return now &- oldest > window
    }
}
