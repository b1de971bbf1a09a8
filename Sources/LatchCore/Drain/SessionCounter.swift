/// How many sessions are still on one node: the number of distinct session ids seen in sticky requests
/// to it within an idle `window` (the application's session timeout), in bounded memory, as a plain
/// value driven by explicit instants so it is tested without a clock.
///
/// Design. Time is cut into buckets `granularity = window / buckets` wide, counted from the first
/// record. The counter keeps the `buckets + 1` most recent ones in a ring; each holds, while it has seen
/// at most `exactLimit` (64) distinct sessions, the exact set of their 64-bit hashes, and past that a
/// HyperLogLog sketch of 2^10 one-byte registers (1 KiB). `distinctSessions(at:)` merges the buckets of
/// the window: the union of the exact sets when every bucket is still exact, otherwise the register-wise
/// maximum of the sketches (exact buckets are added to it) and Ertl's improved HyperLogLog estimate.
///
/// Error.
/// - Exact (up to a 64-bit hash collision, ~n²/2^65) while every bucket of the window has seen at most
///   64 distinct sessions, so in particular for 0...64 sessions. Zero is always exact: `distinctSessions`
///   returns 0 if and only if no session was recorded in the buckets of the window (see granularity
///   below), so in particular none within `window`: a draining node may move itself to maintenance
///   when it reads 0.
/// - Above that, a relative standard error of about 1.04/√1024 ≈ 3.3 % (3σ ≈ 10 %), unbiased.
/// - Window granularity: a session counts for at least `window` after its last request and is forgotten
///   at the latest `window + window / buckets` after it (one bucket more than the window is kept;
///   precisely `(buckets + 1) × granularity`, the granularity being rounded up to a nanosecond). This
///   is the conservative side on purpose: the count never drops to zero while a session the application
///   still considers alive (idle for less than `window`) might be sent to the node; the cost is waiting
///   at most one more bucket (112.5 s for 30 min and 16 buckets) before a drained node reads zero.
///
/// Memory: at most `(buckets + 1)` KiB of registers plus small headers whatever the traffic
/// (`memoryBound(buckets:)`, about 18 KiB for the default 16 buckets), and much less on an idle node:
/// a bucket allocates its sketch only past 64 sessions and an exact set of at most about 512 bytes before.
///
/// Instants are expected to be non-decreasing, as a monotonic clock gives them; a record older than the
/// buckets kept is ignored (it could no longer count anyway), one inside them is counted in its bucket.
public struct SessionCounter<Instant: InstantProtocol>: Sendable where Instant.Duration == Swift.Duration {
    public static var defaultBuckets: Int { 16 }
    /// Distinct sessions a bucket keeps exactly before it switches to a sketch.
    public static var exactLimit: Int { 64 }
    /// Relative standard error of the estimate above the exact range (≈ 0.0325).
    public static var standardError: Double { HyperLogLog.standardError }

    /// Sessions idle for longer than this no longer count.
    public let window: Duration
    /// Buckets the window is cut into.
    public let buckets: Int
    /// The time of the last `record`: the node's last sticky request.
    public private(set) var lastSeen: Instant?

    /// Bucket width in nanoseconds, rounded up so `buckets` of them cover at least `window`.
    private let width: Int64
    /// Instant of the first record; bucket `e` spans `[origin + e·width, origin + (e+1)·width)`.
    private var origin: Instant?
    /// The newest bucket recorded into.
    private var newestEpoch: Int64 = 0
    /// Where the newest bucket starts and ends: nearly every record falls in it, and comparing instants
    /// is far cheaper than the 128-bit division that finds a bucket from a `Duration`.
    private var newestSpan: Range<Instant>?
    /// `buckets + 1` slots; bucket `e` lives at `e mod (buckets + 1)`.
    private var ring: [Bucket]

    /// `window` must be positive and `buckets` at least 1.
    public init(window: Duration, buckets: Int = 16) {
        precondition(window > .zero, "SessionCounter: window must be positive")
        precondition(buckets >= 1, "SessionCounter: at least one bucket")
        self.window = window
        self.buckets = buckets
        let nanoseconds = window.wholeNanoseconds
        let count = Int64(buckets)
        width = max(1, nanoseconds / count + (nanoseconds % count == 0 ? 0 : 1))
        ring = Array(repeating: Bucket(), count: buckets + 1)
    }

    /// The window is cut into buckets this wide (rounded up to a whole nanosecond).
    public var granularity: Duration { .nanoseconds(width) }

    /// Records a sticky request of session `sessionID` (hashed over its UTF-8 bytes). Pre-specialized
    /// for the proxy's clock and id type: it runs for every sticky request, and the generic version
    /// looks up `Optional<Instant>`'s metadata at run time.
    @_specialize(exported: true, where ID == Substring, Instant == MonotonicInstant)
    public mutating func record<ID: StringProtocol>(sessionID: ID, at now: Instant) {
        record(hash: SessionHash.hash(sessionID.utf8), at: now)
    }

    /// Records a sticky request of a session given by its id's bytes; the same bytes as a `String`'s
    /// UTF-8 count as the same session.
    public mutating func record<Bytes: Collection>(sessionIDBytes: Bytes, at now: Instant) where Bytes.Element == UInt8 {
        record(hash: SessionHash.hash(sessionIDBytes), at: now)
    }

    /// Records a sticky request of a session given by its id's ``SessionHash`` (the proxy hashes the
    /// id where it finds it, in the request's bytes, without making a string of it). Pre-specialized
    /// for the proxy's clock, as ``record(sessionID:at:)`` is.
    @_specialize(exported: true, where Instant == MonotonicInstant)
    public mutating func record(sessionHash: UInt64, at now: Instant) {
        record(hash: sessionHash, at: now)
    }

    /// Forgets a session the application ended (it deleted the session cookie): it stops counting at
    /// once in every bucket that still keeps exact sets. A bucket that outgrew them (more than 64
    /// sessions) holds it in a sketch, which cannot forget: there it ages out with the bucket, which
    /// errs on the side of waiting, as the window does.
    public mutating func forget<ID: StringProtocol>(sessionID: ID) {
        let hash = SessionHash.hash(sessionID.utf8)
        for slot in ring.indices where ring[slot].exact.contains(hash) {
            ring[slot].exact.removeAll { $0 == hash }
        }
    }

    /// Distinct sessions recorded within the window before `now`: exact up to 64 per bucket, within
    /// ≈ 3.3 % (one standard error) beyond; exactly 0 when none was recorded within the window.
    public func distinctSessions(at now: Instant) -> Int {
        Self.distinct(in: liveBuckets(at: now))
    }

    /// Distinct sessions within the window over several counters of the same window, as if one had
    /// recorded everything they did: the proxy keeps one per event loop and node, and a session whose
    /// requests came over connections of different loops counts once. Same error bounds; 0 exactly when
    /// none of them recorded a session within the window.
    public static func distinctSessions(across counters: [SessionCounter], at now: Instant) -> Int {
        distinct(in: counters.flatMap { $0.liveBuckets(at: now) })
    }

    /// The buckets that still count at `now`.
    private func liveBuckets(at now: Instant) -> [Bucket] {
        guard let origin else { return [] }
        let current = epoch(of: now, from: origin)
        return ring.filter { !$0.isEmpty && $0.epoch <= current && current - $0.epoch <= Int64(buckets) }
    }

    /// The union of `live`: the exact sets' while every bucket is exact, else the sketches merged.
    private static func distinct(in live: [Bucket]) -> Int {
        guard !live.isEmpty else { return 0 }
        if live.allSatisfy({ $0.sketch == nil }) {
            if live.count == 1 { return live[0].exact.count }
            var union = Set<UInt64>(minimumCapacity: live.reduce(0) { $0 + $1.exact.count })
            for bucket in live { union.formUnion(bucket.exact) }
            return union.count
        }
        var merged = HyperLogLog()
        for bucket in live {
            if let sketch = bucket.sketch {
                merged.formUnion(sketch)
            } else {
                for hash in bucket.exact { merged.insert(hash: hash) }
            }
        }
        // Some bucket has seen more than `exactLimit` sessions, so the true count does too.
        return max(Self.exactLimit + 1, Int(merged.estimate().rounded()))
    }

    /// Approximate bytes this counter may hold whatever the traffic, for `buckets` buckets.
    public static func memoryBound(buckets: Int) -> Int {
        let perBucket = MemoryLayout<Bucket>.stride + arrayHeader + max(HyperLogLog.registerCount, exactLimit * MemoryLayout<UInt64>.stride) + mallocSlack
        return MemoryLayout<SessionCounter>.size + arrayHeader + (buckets + 1) * perBucket
    }

    /// `memoryBound(buckets:)` for the default 16 buckets: about 18 KiB per node.
    public static var memoryBound: Int { memoryBound(buckets: defaultBuckets) }

    /// Heap and inline bytes held now (array capacities included), for tests of the bound.
    var storageBytes: Int {
        var total = MemoryLayout<SessionCounter>.size + Self.arrayHeader + ring.capacity * MemoryLayout<Bucket>.stride
        for bucket in ring {
            if bucket.exact.capacity > 0 {
                total += Self.arrayHeader + bucket.exact.capacity * MemoryLayout<UInt64>.stride
            }
            if let sketch = bucket.sketch {
                total += Self.arrayHeader + sketch.registers.capacity
            }
        }
        return total
    }

    private static var arrayHeader: Int { 32 }
    private static var mallocSlack: Int { 32 }

    // MARK: - Internals

    private mutating func record(hash: UInt64, at now: Instant) {
        if lastSeen.map({ now > $0 }) ?? true {
            lastSeen = now
        }
        let origin: Instant
        if let existing = self.origin {
            origin = existing
        } else {
            origin = now
            self.origin = now
        }
        let e: Int64
        if let span = newestSpan, span.contains(now) {
            e = newestEpoch
        } else {
            e = epoch(of: now, from: origin)
            if e > newestEpoch {
                newestEpoch = e
            } else if newestEpoch - e > Int64(buckets) {
                return  // older than every bucket kept: it could never count again
            }
            let (startOffset, late) = e.multipliedReportingOverflow(by: width)
            let (endOffset, later) = startOffset.addingReportingOverflow(width)
            if e == newestEpoch, !late, !later {
                newestSpan = origin.advanced(by: .nanoseconds(startOffset))..<origin.advanced(by: .nanoseconds(endOffset))
            }
        }
        let slot = Int(e.positiveRemainder(Int64(buckets + 1)))
        if ring[slot].epoch != e {
            guard ring[slot].isEmpty || ring[slot].epoch < e else { return }
            ring[slot] = Bucket(epoch: e)
        }
        ring[slot].insert(hash)
    }

    private func epoch(of instant: Instant, from origin: Instant) -> Int64 {
        origin.duration(to: instant).wholeNanoseconds.flooredDivision(by: width)
    }

    /// One time bucket: an exact set of hashes while small, a HyperLogLog sketch beyond.
    struct Bucket: Sendable {
        var epoch: Int64 = .min
        /// The distinct hashes seen, while at most `exactLimit`; emptied when the sketch takes over.
        var exact: [UInt64] = []
        var sketch: HyperLogLog?

        init(epoch: Int64 = .min) {
            self.epoch = epoch
        }

        var isEmpty: Bool { exact.isEmpty && sketch == nil }

        mutating func insert(_ hash: UInt64) {
            if sketch != nil {
                sketch?.insert(hash: hash)
                return
            }
            if exact.contains(hash) { return }
            if exact.count < SessionCounter.exactLimit {
                if exact.count == exact.capacity {
                    // Grow by doubling up to the limit only, not past it as `append` would.
                    exact.reserveCapacity(Swift.min(SessionCounter.exactLimit, Swift.max(4, 2 * exact.count)))
                }
                exact.append(hash)
                return
            }
            var promoted = HyperLogLog()
            for known in exact { promoted.insert(hash: known) }
            promoted.insert(hash: hash)
            exact = []
            sketch = promoted
        }
    }
}

extension Int64 {
    fileprivate func flooredDivision(by divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder != 0 && (remainder < 0) != (divisor < 0) ? quotient - 1 : quotient
    }

    fileprivate func positiveRemainder(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
