import Testing
@testable import LatchCore

/// The history behind the status page's charts: bounded rings, points as differences of counters,
/// latency quantiles from buckets, and the drain estimate.
struct NodeHistoryTests {
    // MARK: The ring

    @Test func ringKeepsTheNewestInOrder() {
        var ring = HistoryRing<Int>(capacity: 3)
        #expect(ring.elements == [])
        #expect(ring.last == nil)
        for value in 1...2 { ring.append(value) }
        #expect(ring.elements == [1, 2])
        for value in 3...7 { ring.append(value) }
        #expect(ring.elements == [5, 6, 7])
        #expect(ring.count == 3)
        #expect(ring.last == 7)
    }

    @Test(arguments: [1, 2, 5, 360])
    func ringNeverGrowsPastItsCapacity(_ capacity: Int) {
        var ring = HistoryRing<Int>(capacity: capacity)
        for value in 0..<(capacity * 3 + 1) {
            ring.append(value)
            #expect(ring.count == min(value + 1, capacity))
            #expect(ring.last == value)
        }
        #expect(ring.elements == Array((capacity * 2 + 1)...(capacity * 3)))
    }

    // MARK: Latency quantiles

    static let bounds: [Double] = [1, 5, 10, 25, 50, 100]

    static let quantileRows: [(String, Double, [Int], Double?)] = [
        ("no requests", 0.5, [0, 0, 0, 0, 0, 0, 0], nil),
        ("all in the first bucket: interpolated from 0", 0.5, [10, 0, 0, 0, 0, 0, 0], 0.5),
        ("median in the second bucket", 0.5, [2, 8, 0, 0, 0, 0, 0], 1 + 4 * (3.0 / 8)),
        ("p99 at the top of a bucket", 0.99, [0, 0, 99, 1, 0, 0, 0], 10),
        ("p99 in the last finite bucket", 0.99, [0, 0, 0, 0, 0, 100, 0], 50 + 50 * 0.99),
        ("past the last bound: the last bound", 0.99, [1, 0, 0, 0, 0, 0, 99], 100),
        ("empty buckets between are skipped", 0.5, [1, 0, 0, 0, 0, 1, 0], 1),
        ("fewer counts than bounds", 0.5, [0, 4], 3),
    ]

    @Test(arguments: quantileRows)
    func quantile(_ name: String, _ q: Double, _ counts: [Int], _ expected: Double?) {
        let estimate = LatencyQuantile.estimate(q, counts: counts, bounds: Self.bounds)
        if let expected, let estimate {
            #expect(abs(estimate - expected) < 1e-9, "\(name)")
        } else {
            #expect(estimate == expected, "\(name)")
        }
    }

    // MARK: Drain estimate

    static func falling(from start: Int, by step: Int, points: Int, every seconds: Double = 10) -> [(time: Double, sessions: Int)] {
        (0..<points).map { (time: 1000 + Double($0) * seconds, sessions: max(0, start - $0 * step)) }
    }

    @Test func steadyFallIsFollowedToZero() throws {
        // 100, 90, …, 60 at t = 1000…1040: 1 session a second, 60 left at 1040.
        let zero = try #require(DrainEstimate.zeroAt(Self.falling(from: 100, by: 10, points: 5)))
        #expect(abs(zero - 1100) < 1e-6)
    }

    @Test func noEstimateWithoutAFall() {
        #expect(DrainEstimate.zeroAt([]) == nil)
        #expect(DrainEstimate.zeroAt(Self.falling(from: 50, by: 0, points: 10)) == nil, "flat")
        #expect(DrainEstimate.zeroAt(Self.falling(from: 50, by: -3, points: 10)) == nil, "rising")
        #expect(DrainEstimate.zeroAt(Self.falling(from: 50, by: 5, points: 2)) == nil, "two points are no trend")
    }

    @Test func alreadyEmptyIsNow() {
        #expect(DrainEstimate.zeroAt([(time: 5, sessions: 0)]) == 5)
    }

    @Test func onlyTheWindowIsFitted() throws {
        // Rising long ago, falling within the last 5 minutes: only the fall counts.
        let old = (0..<10).map { (time: Double($0) * 10, sessions: 10 + $0) }
        let recent = (0..<6).map { (time: 1000 + Double($0) * 60, sessions: 60 - $0 * 6) }
        let zero = try #require(DrainEstimate.zeroAt(old + recent))
        #expect(abs(zero - (1300 + 30 * 10)) < 1e-6)
    }

    // MARK: Points and events

    static let classes = RequestSeriesShape.statusClasses

    static func sample(ok: Int = 0, fiveHundreds: Int = 0, none: Int = 0, buckets: [Int] = [0, 0, 0, 0, 0, 0, 0],
                       failures: Int = 0, ejections: Int = 0, sessions: Int? = nil, state: String = "active") -> NodeSample {
        var statusClasses = Array(repeating: 0, count: classes)
        statusClasses[0] = none
        statusClasses[2] = ok
        statusClasses[5] = fiveHundreds
        return NodeSample(
            counters: NodeCounters(statusClasses: statusClasses, buckets: buckets, failures: failures, ejections: ejections),
            sessions: sessions, active: 1, queued: 0, state: state, up: true, usable: true)
    }

    @Test func firstSampleIsTheBaselineAndPointsAreDifferences() throws {
        var sequence: UInt64 = 0
        var history = NodeHistory(points: 10, boundsMilliseconds: Self.bounds, since: 0)
        history.record(Self.sample(ok: 100, fiveHundreds: 5, buckets: [105, 0, 0, 0, 0, 0, 0]), at: 100, sequence: &sequence)
        #expect(history.points.isEmpty)
        history.record(Self.sample(ok: 150, fiveHundreds: 7, none: 1, buckets: [105, 50, 3, 0, 0, 0, 0], failures: 2, sessions: 9), at: 110, sequence: &sequence)
        let point = try #require(history.points.last)
        #expect(point.time == 110)
        #expect(point.seconds == 10)
        #expect(point.ok == 50)
        #expect(point.serverErrors == 2)
        #expect(point.unanswered == 1)
        #expect(point.requests == 53)
        #expect(point.failures == 2)
        #expect(point.sessions == 9)
        // 53 requests: the median in the 1–5 ms bucket, p99 in the 5–10 ms one.
        #expect(try #require(point.p50Ms) > 1 && point.p50Ms! <= 5)
        #expect(try #require(point.p99Ms) > 5 && point.p99Ms! <= 10)
    }

    @Test func historyIsBoundedWhateverItIsFed() {
        let capacity = 360
        var sequence: UInt64 = 0
        var history = NodeHistory(points: capacity, events: 50, boundsMilliseconds: Self.bounds, since: 0)
        for i in 0...(capacity * 4) {
            history.record(Self.sample(ok: i * 1000, buckets: [i * 1000, 0, 0, 0, 0, 0, 0]), at: Double(i) * 10, sequence: &sequence)
            history.note(HistoryEvent(time: Double(i) * 10, kind: .health, from: i % 2 == 0 ? "up" : "down", to: i % 2 == 0 ? "down" : "up"))
        }
        #expect(history.points.count == capacity)
        #expect(history.events.count == 50)
        // The newest kept, oldest first, each a 10 s interval of 1000 requests.
        #expect(history.points.elements.first?.time == Double(capacity * 3 + 1) * 10)
        #expect(history.points.last?.time == Double(capacity * 4) * 10)
        #expect(history.points.elements.allSatisfy { $0.ok == 1000 && $0.seconds == 10 })
        #expect(history.healthSince == Double(capacity * 4) * 10)
    }

    @Test func changesMoveTheSinceTimes() {
        var history = NodeHistory(points: 5, boundsMilliseconds: Self.bounds, since: 50)
        #expect(history.stateSince == 50)
        #expect(history.healthSince == nil)
        history.note(HistoryEvent(time: 60, kind: .health, from: "up", to: "down"))
        history.note(HistoryEvent(time: 70, kind: .state, from: "active", to: "draining", effective: "draining"))
        history.note(HistoryEvent(time: 80, kind: .ejected, from: "usable", to: "ejected"))
        #expect(history.stateSince == 70)
        #expect(history.healthSince == 60)
        history.note(HistoryEvent(time: 90, kind: .announced, from: "active", to: "maintenance", effective: "maintenance"))
        #expect(history.stateSince == 90)
        // The operator's maintenance under the node's own: the effective state stays, and so does the time.
        history.note(HistoryEvent(time: 95, kind: .state, from: "draining", to: "maintenance"))
        #expect(history.stateSince == 90)
        #expect(history.events.elements.map(\.kind) == [.health, .state, .ejected, .announced, .state])
    }

    @Test func aStateChangeNobodyNotedIsAnEventAtTheSample() {
        var sequence: UInt64 = 0
        var history = NodeHistory(points: 5, boundsMilliseconds: Self.bounds, since: 0)
        history.record(Self.sample(), at: 10, sequence: &sequence)
        history.record(Self.sample(state: "maintenance"), at: 20, sequence: &sequence)
        #expect(history.events.elements == [HistoryEvent(time: 20, kind: .state, from: "active", to: "maintenance", effective: "maintenance", sequence: 1)])
        #expect(history.stateSince == 20)
        // Noted where it happened: not again.
        history.note(HistoryEvent(time: 25, kind: .state, from: "maintenance", to: "active", effective: "active", sequence: 9))
        history.record(Self.sample(), at: 30, sequence: &sequence)
        #expect(history.events.count == 2)
        #expect(history.stateSince == 25)
    }

    @Test func everyPointAndEventGetsTheNextSequenceNumber() {
        var sequence: UInt64 = 40
        var history = NodeHistory(points: 5, boundsMilliseconds: Self.bounds, since: 0)
        history.record(Self.sample(), at: 10, sequence: &sequence)
        #expect(sequence == 40, "the baseline adds nothing")
        history.record(Self.sample(ejections: 1), at: 20, sequence: &sequence)
        history.record(Self.sample(ejections: 1, state: "draining"), at: 30, sequence: &sequence)
        #expect(history.points.elements.map(\.sequence) == [41, 44])
        #expect(history.events.elements.map(\.sequence) == [42, 43])
        #expect(sequence == 44)
    }

    @Test func anEjectionBetweenSamplesIsAnEvent() {
        var sequence: UInt64 = 0
        var history = NodeHistory(points: 5, boundsMilliseconds: Self.bounds, since: 0)
        history.record(Self.sample(ejections: 1), at: 10, sequence: &sequence)
        history.record(Self.sample(ejections: 1), at: 20, sequence: &sequence)
        #expect(history.events.isEmpty)
        history.record(Self.sample(ejections: 2), at: 30, sequence: &sequence)
        #expect(history.events.elements.map { "\($0.time) \($0.kind) \($0.sequence)" } == ["30.0 ejected 3"])
    }

    @Test func drainEstimateOnlyWhileDraining() throws {
        var sequence: UInt64 = 0
        var history = NodeHistory(points: 100, boundsMilliseconds: Self.bounds, since: 0)
        history.record(Self.sample(sessions: 100), at: 0, sequence: &sequence)
        history.note(HistoryEvent(time: 5, kind: .state, from: "active", to: "draining", effective: "draining"))
        for (i, sessions) in [100, 90, 80, 70].enumerated() {
            history.record(Self.sample(sessions: sessions, state: "draining"), at: Double(i + 1) * 10, sequence: &sequence)
        }
        // 1 session a second, 70 left at t = 40.
        let estimate = try #require(history.drainEndEstimate)
        #expect(abs(estimate - 110) < 1e-6)
        history.record(Self.sample(sessions: 60, state: "active"), at: 50, sequence: &sequence)
        #expect(history.drainEndEstimate == nil)
    }
}

/// The status-class layout ``NodeCounters`` uses (`[0]` none, then 1xx…9xx).
enum RequestSeriesShape {
    static let statusClasses = 10
}
