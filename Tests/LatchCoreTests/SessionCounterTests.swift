import Testing

@testable import LatchCore

struct SessionCounterTests {
    typealias Counter = SessionCounter<ContinuousClock.Instant>

    /// A fixed origin; every instant is an explicit offset from it, so nothing sleeps.
    static let t0 = ContinuousClock.Instant.now
    static func at(_ offset: Duration) -> ContinuousClock.Instant { t0.advanced(by: offset) }

    static let window = Duration.seconds(1800)
    /// window / 16: 112.5 s.
    static let bucket = window / 16
    /// Three standard errors of the estimate: ≈ 9.75 %.
    static let tolerance = 3 * Counter.standardError

    static func id(_ i: Int, _ group: String = "s") -> String { "\(group)-\(i)" }

    static func relativeError(_ estimate: Int, _ truth: Int) -> Double {
        Double(estimate - truth) / Double(truth)
    }

    // MARK: - Exact range

    // MARK: - Several counters (one per event loop)

    @Test func countersOfSeveralLoopsCountASessionOnce() {
        var a = Counter(window: Self.window)
        var b = Counter(window: Self.window)
        a.record(sessionID: "s1", at: Self.at(.seconds(1)))
        // b starts later: its buckets are aligned on its own first record.
        b.record(sessionID: "s1", at: Self.at(.seconds(500)))
        b.record(sessionID: "s2", at: Self.at(.seconds(510)))
        #expect(Counter.distinctSessions(across: [a, b], at: Self.at(.seconds(600))) == 2)
        #expect(Counter.distinctSessions(across: [a], at: Self.at(.seconds(600))) == 1)
        #expect(Counter.distinctSessions(across: [], at: Self.at(.seconds(600))) == 0)
        // Past a's window and its last bucket (1 s + 1 800 s + 112.5 s), within b's: b's sighting of
        // s1 keeps it counted.
        #expect(Counter.distinctSessions(across: [a], at: Self.at(.seconds(1950))) == 0)
        #expect(Counter.distinctSessions(across: [a, b], at: Self.at(.seconds(1950))) == 2)
        #expect(Counter.distinctSessions(across: [a, b], at: Self.at(.seconds(10_000))) == 0)
    }

    @Test func countersOfSeveralLoopsPastTheExactRange() {
        var shards = [Counter(window: Self.window), Counter(window: Self.window)]
        for i in 0..<3_000 { shards[i % 2].record(sessionID: Self.id(i), at: Self.at(.milliseconds(i))) }
        // Every session once more on the other shard: still 3 000 distinct.
        for i in 0..<3_000 { shards[(i + 1) % 2].record(sessionID: Self.id(i), at: Self.at(.seconds(5))) }
        let estimate = Counter.distinctSessions(across: shards, at: Self.at(.seconds(10)))
        #expect(abs(Self.relativeError(estimate, 3_000)) <= Self.tolerance)
    }

    @Test func emptyCountsZero() {
        let counter = Counter(window: Self.window)
        #expect(counter.distinctSessions(at: Self.at(.zero)) == 0)
        #expect(counter.distinctSessions(at: Self.at(.seconds(10_000))) == 0)
        #expect(counter.lastSeen == nil)
    }

    @Test func theSameSessionManyTimesCountsOnce() {
        var counter = Counter(window: Self.window)
        for i in 0..<10_000 {
            counter.record(sessionID: "JSESSION-abc", at: Self.at(.milliseconds(i)))
        }
        #expect(counter.distinctSessions(at: Self.at(.seconds(10))) == 1)
        #expect(counter.lastSeen == Self.at(.milliseconds(9_999)))
    }

    /// The proxy records a sighting by the hash of the id's bytes in the request and an issued session
    /// by its `Set-Cookie` string: the same session must count once whichever way it came.
    @Test func anIdRecordedByItsBytesAndByItsStringCountsOnce() {
        var counter = Counter(window: Self.window)
        for i in 0..<200 {
            let id = Self.id(i)
            counter.record(sessionID: id, at: Self.at(.seconds(1)))
            let hash = Array(id.utf8).withUnsafeBufferPointer { SessionHash.hash($0) }
            #expect(hash == SessionHash.hash(id.utf8))
            counter.record(sessionHash: hash, at: Self.at(.seconds(2)))
            if i < Counter.exactLimit { #expect(counter.distinctSessions(at: Self.at(.seconds(2))) == i + 1) }
        }
        #expect(Self.relativeError(counter.distinctSessions(at: Self.at(.seconds(2))), 200) < Self.tolerance)
    }

    @Test func aForgottenSessionStopsCountingInEveryBucket() {
        var counter = Counter(window: Self.window)
        counter.record(sessionID: "ended", at: Self.at(.zero))
        counter.record(sessionID: "kept", at: Self.at(.zero))
        counter.record(sessionID: "ended", at: Self.at(Self.bucket * 3))
        #expect(counter.distinctSessions(at: Self.at(Self.bucket * 3)) == 2)
        counter.forget(sessionID: "ended")
        #expect(counter.distinctSessions(at: Self.at(Self.bucket * 3)) == 1)
        counter.forget(sessionID: "never seen")
        counter.forget(sessionID: "kept")
        #expect(counter.distinctSessions(at: Self.at(Self.bucket * 3)) == 0, "zero stays exact")
        counter.record(sessionID: "ended", at: Self.at(Self.bucket * 4))
        #expect(counter.distinctSessions(at: Self.at(Self.bucket * 4)) == 1, "an id used again counts again")
    }

    @Test func aSketchCannotForgetButAgesOut() {
        var counter = Counter(window: Self.window)
        for i in 0..<200 { counter.record(sessionID: Self.id(i), at: Self.at(.zero)) }
        let before = counter.distinctSessions(at: Self.at(.zero))
        counter.forget(sessionID: Self.id(0))
        #expect(counter.distinctSessions(at: Self.at(.zero)) == before)
    }

    @Test func upTo64SessionsAreExact() {
        for n in 1...64 {
            var counter = Counter(window: Self.window)
            for i in 0..<n {
                counter.record(sessionID: Self.id(i), at: Self.at(.seconds(1)))
                counter.record(sessionID: Self.id(i), at: Self.at(.seconds(2)))  // repeats do not count
            }
            #expect(counter.distinctSessions(at: Self.at(.seconds(3))) == n, "n = \(n)")
        }
    }

    @Test func exactSetsAreUnitedAcrossBuckets() {
        // 16 buckets with 64 sessions each (half of them shared with the previous bucket): every bucket
        // stays exact, so the union is exact as well.
        var counter = Counter(window: Self.window)
        for b in 0..<16 {
            for i in 0..<64 {
                counter.record(sessionID: Self.id(b * 32 + i), at: Self.at(Self.bucket * b))
            }
        }
        #expect(counter.distinctSessions(at: Self.at(Self.bucket * 15)) == 15 * 32 + 64)
    }

    @Test func stringSubstringAndBytesNameTheSameSession() {
        var counter = Counter(window: Self.window)
        let cookie = "JSESSIONID=abc123.node1"
        counter.record(sessionID: "abc123.node1", at: Self.at(.zero))
        counter.record(sessionID: cookie.split(separator: "=")[1], at: Self.at(.zero))
        counter.record(sessionIDBytes: Array("abc123.node1".utf8), at: Self.at(.zero))
        counter.record(sessionIDBytes: "abc123.node1".utf8.lazy.map { $0 }, at: Self.at(.zero))  // not contiguous
        #expect(counter.distinctSessions(at: Self.at(.zero)) == 1)
        counter.record(sessionIDBytes: Array("abc123.node2".utf8), at: Self.at(.zero))
        #expect(counter.distinctSessions(at: Self.at(.zero)) == 2)
    }

    // MARK: - Estimates

    @Test(arguments: [1_000, 10_000, 100_000])
    func largeCountsAreWithinThreeStandardErrors(n: Int) {
        var counter = Counter(window: Self.window)
        for i in 0..<n {
            counter.record(sessionID: Self.id(i), at: Self.at(.seconds(1)))
        }
        let estimate = counter.distinctSessions(at: Self.at(.seconds(2)))
        #expect(abs(Self.relativeError(estimate, n)) <= Self.tolerance, "n = \(n), estimate = \(estimate)")
    }

    @Test(arguments: [65, 100, 300, 2_000, 2_560, 4_000, 6_000])
    func theTransitionFromExactAndTheSmallRangeAreUnbiased(n: Int) {
        var counter = Counter(window: Self.window)
        for i in 0..<n {
            counter.record(sessionID: Self.id(i, "t"), at: Self.at(.zero))
        }
        let estimate = counter.distinctSessions(at: Self.at(.zero))
        #expect(abs(Self.relativeError(estimate, n)) <= Self.tolerance, "n = \(n), estimate = \(estimate)")
    }

    @Test func sessionsSpreadOverTheWindowAreCountedOnce() {
        // 20 000 sessions, each seen in three consecutive buckets.
        var counter = Counter(window: Self.window)
        let n = 20_000
        for b in 0..<16 {
            for i in 0..<n where (i % 16 == b) || ((i + 1) % 16 == b) || ((i + 2) % 16 == b) {
                counter.record(sessionID: Self.id(i), at: Self.at(Self.bucket * b + .seconds(1)))
            }
        }
        let estimate = counter.distinctSessions(at: Self.at(Self.bucket * 15 + .seconds(2)))
        #expect(abs(Self.relativeError(estimate, n)) <= Self.tolerance, "estimate = \(estimate)")
    }

    @Test func theSameSessionsInSeveralBucketsCountAsInOne() {
        // Merging is a register-wise maximum: repeating a set in more buckets changes nothing at all.
        var once = Counter(window: Self.window)
        var repeated = Counter(window: Self.window)
        for i in 0..<5_000 {
            once.record(sessionID: Self.id(i), at: Self.at(.zero))
        }
        for b in 0..<8 {
            for i in 0..<5_000 {
                repeated.record(sessionID: Self.id(i), at: Self.at(Self.bucket * b))
            }
        }
        #expect(repeated.distinctSessions(at: Self.at(Self.bucket * 7)) == once.distinctSessions(at: Self.at(.zero)))
        // A small session set in one bucket and a large one in another: the small one is not added twice.
        var mixed = Counter(window: Self.window)
        for i in 0..<5_000 {
            mixed.record(sessionID: Self.id(i), at: Self.at(.zero))
        }
        for i in 0..<10 {
            mixed.record(sessionID: Self.id(i), at: Self.at(Self.bucket * 3))
        }
        #expect(mixed.distinctSessions(at: Self.at(Self.bucket * 3)) == once.distinctSessions(at: Self.at(.zero)))
    }

    // MARK: - The window

    @Test func sessionsCountForTheWholeWindowThenExactlyZero() {
        for n in [1, 64, 100_000] {
            var counter = Counter(window: Self.window)
            // Recorded at the very end of the first bucket: the earliest a session can be forgotten.
            let last = Self.at(Self.bucket - .nanoseconds(1))
            for i in 0..<n {
                counter.record(sessionID: Self.id(i), at: last)
            }
            let atWindowEnd = counter.distinctSessions(at: last.advanced(by: Self.window))
            #expect(atWindowEnd > 0, "n = \(n): still counted a whole window after the last request")
            if n <= 64 { #expect(atWindowEnd == n) }
            // Forgotten at the latest window + window/16 after the last request, and then exactly 0.
            #expect(counter.distinctSessions(at: last.advanced(by: Self.window + Self.bucket)) == 0, "n = \(n)")
            #expect(counter.distinctSessions(at: Self.at(.seconds(100_000))) == 0, "n = \(n)")
            #expect(counter.lastSeen == last)
        }
    }

    @Test func aSessionRecordedAtTheStartOfABucketIsForgottenOneWindowAfterIt() {
        var counter = Counter(window: Self.window)
        counter.record(sessionID: "a", at: Self.at(.zero))
        #expect(counter.distinctSessions(at: Self.at(Self.window)) == 1)
        #expect(counter.distinctSessions(at: Self.at(Self.window + Self.bucket - .nanoseconds(1))) == 1)
        #expect(counter.distinctSessions(at: Self.at(Self.window + Self.bucket)) == 0)
    }

    /// Records inside the newest bucket skip the bucket arithmetic; its last and first nanoseconds, and
    /// a record after an older one, still land in the right bucket.
    @Test func recordsAtTheEdgesOfTheNewestBucketLandInTheirBuckets() {
        var counter = SessionCounter<ContinuousClock.Instant>(window: .nanoseconds(1_000), buckets: 4)
        counter.record(sessionID: "a", at: Self.at(.zero))
        counter.record(sessionID: "b", at: Self.at(.nanoseconds(249)))  // bucket 0's last nanosecond
        counter.record(sessionID: "c", at: Self.at(.nanoseconds(250)))  // bucket 1's first
        counter.record(sessionID: "d", at: Self.at(.nanoseconds(100)))  // back in bucket 0
        counter.record(sessionID: "e", at: Self.at(.nanoseconds(499)))  // bucket 1's last
        #expect(counter.distinctSessions(at: Self.at(.nanoseconds(1_249))) == 5)
        #expect(counter.distinctSessions(at: Self.at(.nanoseconds(1_250))) == 2, "bucket 0 (a, b, d) aged out")
        #expect(counter.distinctSessions(at: Self.at(.nanoseconds(1_500))) == 0, "bucket 1 (c, e) aged out")
    }

    @Test func aRecentRequestKeepsASessionCounted() {
        var counter = Counter(window: Self.window)
        counter.record(sessionID: "a", at: Self.at(.zero))
        counter.record(sessionID: "b", at: Self.at(.zero))
        counter.record(sessionID: "a", at: Self.at(.seconds(1500)))
        #expect(counter.distinctSessions(at: Self.at(.seconds(1900))) == 2)
        #expect(counter.distinctSessions(at: Self.at(.seconds(2000))) == 1, "b idled past the window")
        #expect(counter.distinctSessions(at: Self.at(.seconds(3400))) == 0)
        #expect(counter.lastSeen == Self.at(.seconds(1500)))
    }

    @Test func slidingWindowExact() {
        var counter = Counter(window: Self.window)
        for i in 0..<40 {
            counter.record(sessionID: Self.id(i, "early"), at: Self.at(.zero))
        }
        for i in 0..<25 {
            counter.record(sessionID: Self.id(i, "late"), at: Self.at(Self.window / 2))
        }
        #expect(counter.distinctSessions(at: Self.at(Self.window / 2)) == 65)
        #expect(counter.distinctSessions(at: Self.at(Self.window)) == 65)
        #expect(counter.distinctSessions(at: Self.at(Self.window + Self.bucket)) == 25)
        #expect(counter.distinctSessions(at: Self.at(Self.window * 3 / 2)) == 25)
        #expect(counter.distinctSessions(at: Self.at(Self.window * 3 / 2 + Self.bucket)) == 0)
    }

    @Test func slidingWindowEstimated() {
        var counter = Counter(window: Self.window)
        for i in 0..<30_000 {
            counter.record(sessionID: Self.id(i, "early"), at: Self.at(.zero))
        }
        for i in 0..<10_000 {
            counter.record(sessionID: Self.id(i, "late"), at: Self.at(Self.window / 2))
        }
        let both = counter.distinctSessions(at: Self.at(Self.window / 2 + .seconds(1)))
        #expect(abs(Self.relativeError(both, 40_000)) <= Self.tolerance, "both = \(both)")
        let lateOnly = counter.distinctSessions(at: Self.at(Self.window + Self.bucket))
        #expect(abs(Self.relativeError(lateOnly, 10_000)) <= Self.tolerance, "late only = \(lateOnly)")
        #expect(counter.distinctSessions(at: Self.at(Self.window * 3 / 2 + Self.bucket)) == 0)
    }

    @Test func aRecordOutOfOrderCountsInItsBucketOrNotAtAll() {
        var counter = Counter(window: Self.window)
        counter.record(sessionID: "now", at: Self.at(.seconds(1000)))
        counter.record(sessionID: "earlier", at: Self.at(.seconds(500)))  // still inside the window
        counter.record(sessionID: "long ago", at: Self.at(.seconds(-5000)))  // older than every bucket kept
        #expect(counter.distinctSessions(at: Self.at(.seconds(1000))) == 2)
        #expect(counter.lastSeen == Self.at(.seconds(1000)), "lastSeen is the latest request")
        #expect(counter.distinctSessions(at: Self.at(.seconds(2400))) == 1, "earlier idled past the window")
    }

    @Test func windowsThatDoNotDivideEvenlyStillCoverTheWholeWindow() {
        var counter = SessionCounter<ContinuousClock.Instant>(window: .nanoseconds(1_000), buckets: 3)
        #expect(counter.granularity == .nanoseconds(334), "rounded up: 3 buckets cover at least the window")
        counter.record(sessionID: "a", at: Self.at(.zero))
        counter.record(sessionID: "b", at: Self.at(.nanoseconds(333)))  // the last nanosecond of bucket 0
        #expect(counter.distinctSessions(at: Self.at(.nanoseconds(1_333))) == 2, "b: one window later")
        #expect(counter.distinctSessions(at: Self.at(.nanoseconds(1_335))) == 2)
        #expect(counter.distinctSessions(at: Self.at(.nanoseconds(1_336))) == 0, "(buckets + 1) × granularity")
    }

    // MARK: - Memory and determinism

    @Test func memoryStaysBoundedWhateverTheTraffic() {
        let bound = Counter.memoryBound
        #expect(bound == Counter.memoryBound(buckets: 16))
        #expect(bound < 20 * 1024)
        var counter = Counter(window: Self.window)
        let idle = counter.storageBytes
        #expect(idle < 1024, "an unused counter holds no sketch: \(idle) bytes")
        // 1 000 000 distinct sessions over two and a half windows, 6 250 per step of window / 64.
        var peak = 0
        for i in 0..<1_000_000 {
            counter.record(sessionID: Self.id(i), at: Self.at(Self.window / 64 * (i / 6_250)))
            if i % 500 == 0 { peak = max(peak, counter.storageBytes) }
        }
        peak = max(peak, counter.storageBytes)
        #expect(peak <= bound, "peak \(peak) bytes, bound \(bound)")
        let estimate = counter.distinctSessions(at: Self.at(Self.window / 64 * 159))
        // The window ending at step 159 holds steps 92...159 (68 steps of 6 250 sessions).
        #expect(abs(Self.relativeError(estimate, 68 * 6_250)) <= Self.tolerance, "estimate = \(estimate)")
    }

    @Test func countsAreReproducible() {
        // FNV-1a 64 + fmix64, not the per-process seeded Hasher: pinned values hold in every process.
        #expect(SessionHash.hash(Array("".utf8)) == 0xefd0_1f60_ba99_2926)
        #expect(SessionHash.hash("abc".utf8) == 0x33eb_af99_27cb_c5bd)
        #expect(SessionHash.hash("session-1".utf8) == 0xf267_abb3_2d45_0b1f)
        var a = Counter(window: Self.window)
        var b = Counter(window: Self.window)
        for i in 0..<10_000 {
            a.record(sessionID: Self.id(i), at: Self.at(.seconds(1)))
            b.record(sessionIDBytes: Array(Self.id(i).utf8), at: Self.at(.seconds(5)))
        }
        let countA = a.distinctSessions(at: Self.at(.seconds(6)))
        #expect(countA == b.distinctSessions(at: Self.at(.seconds(6))))
        #expect(countA == Self.pinnedCountOf10k)
    }

    /// The estimate for ids "s-0"..."s-9999", pinned so a change of hash or estimator shows.
    static let pinnedCountOf10k = 9_845
}
