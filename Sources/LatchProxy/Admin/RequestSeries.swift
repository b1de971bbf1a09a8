import LatchCore
import NIOCore

/// The finished requests of one metric series — a cluster's node, or its requests no node took
/// (`node="-"`) — counted for `latch_requests_total` by reason and status class, and timed for the
/// `latch_request_duration_seconds` histogram.
///
/// Every event loop counts into its own shard (``ShardedCounters``): no lock per request. A scrape
/// sums the shards (``tally()``).
final class RequestSeries: Sendable {
    let cluster: String
    let node: String

    /// Every reason a request can finish with: the node decisions, and Latch's own redirect.
    static let reasons: [String] = DecisionReason.allCases.map(\.rawValue) + ["redirect"]
    /// `none` (the client got no status), then `1xx` … `9xx`.
    static let statusClasses = 10
    /// The histogram's bucket bounds (`le`): 1 ms to 60 s.
    static let bucketBounds: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]
    private static let boundNanoseconds = bucketBounds.map(\.wholeNanoseconds)

    /// The slots: the counts by (reason, status class), the buckets and one past the last bound, the
    /// sum in microseconds (an `Int` of them lasts 292 000 request-years, even for long polls). The
    /// total is the buckets' sum, so a scrape between a request's updates can never show `+Inf` below
    /// a finite bucket.
    private static let countSlots = reasons.count * statusClasses
    private static let overflowSlot = countSlots + bucketBounds.count
    private static let sumSlot = overflowSlot + 1
    private let counters: ShardedCounters

    init(cluster: String, node: String, shards: Int) {
        self.cluster = cluster
        self.node = node
        counters = ShardedCounters(slots: Self.sumSlot + 1, shards: shards)
    }

    /// The index of `reason` in ``reasons``, or `nil` for a reason the table does not know.
    static func reasonIndex(_ reason: String) -> Int? {
        reasons.firstIndex(of: reason)
    }

    static func reasonIndex(_ reason: DecisionReason) -> Int {
        // `reasons` starts with `DecisionReason.allCases`, in order.
        reason.index
    }

    /// Counts one finished request; `shard` is the calling event loop's (see ``UpstreamPool/shard``).
    /// - Parameter duration: a `TimeAmount`, whose nanoseconds are an `Int64` (a `Duration` is two
    ///   words of attoseconds, and converting it took 128-bit multiplications per request).
    func record(shard: Int, reason: Int, status: Int?, duration: TimeAmount) {
        let statusClass = status.map { min(max($0 / 100, 1), Self.statusClasses - 1) } ?? 0
        counters.add(1, to: reason * Self.statusClasses + statusClass, shard: shard)
        let nanoseconds = duration.nanoseconds
        let bucket = Self.boundNanoseconds.firstIndex { nanoseconds <= $0 } ?? Self.bucketBounds.count
        counters.add(1, to: Self.countSlots + bucket, shard: shard)
        counters.add(Int(nanoseconds / 1000), to: Self.sumSlot, shard: shard)
    }

    /// The shards summed.
    func tally() -> RequestTally {
        var tally = RequestTally()
        for i in 0..<Self.countSlots { tally.counts[i] = counters.sum(i) }
        for i in 0..<Self.bucketBounds.count { tally.buckets[i] = counters.sum(Self.countSlots + i) }
        tally.total = tally.buckets.reduce(0, +) + counters.sum(Self.overflowSlot)
        tally.sumMicroseconds = counters.sum(Self.sumSlot)
        return tally
    }
}

/// A series' figures at one scrape.
struct RequestTally: Equatable {
    /// By `reason × statusClasses + class`.
    var counts = Array(repeating: 0, count: RequestSeries.reasons.count * RequestSeries.statusClasses)
    /// Requests per bucket (not cumulative).
    var buckets = Array(repeating: 0, count: RequestSeries.bucketBounds.count)
    var sumMicroseconds = 0
    var total = 0

    func count(reason: String, statusClass: String) -> Int {
        guard let r = RequestSeries.reasonIndex(reason), let c = Self.classLabels.firstIndex(of: statusClass) else { return 0 }
        return counts[r * RequestSeries.statusClasses + c]
    }

    static let classLabels = ["none"] + (1..<RequestSeries.statusClasses).map { "\($0)xx" }
}

extension RequestSeries {
    /// `latch_requests_total` and `latch_request_duration_seconds` in the Prometheus text format
    /// (version 0.0.4) for `series`, listing only the label sets that occurred.
    static func exposition(_ series: [RequestSeries]) -> String {
        let tallies = series.map { ($0, $0.tally()) }
        var out = "# HELP latch_requests_total Finished requests by node, decision reason and status class\n"
        out += "# TYPE latch_requests_total counter\n"
        for (series, tally) in tallies {
            for (r, reason) in reasons.enumerated() {
                for (c, statusClass) in RequestTally.classLabels.enumerated() {
                    let value = tally.counts[r * statusClasses + c]
                    // The usual classes are there from the start, at 0; the rare ones once they occur.
                    guard value > 0 || Self.usualClasses.contains(statusClass) else { continue }
                    out += "latch_requests_total{\(labels(series, ("reason", reason), ("status_class", statusClass)))} \(value)\n"
                }
            }
        }
        out += "# HELP latch_request_duration_seconds Time from the request head to the end of the exchange\n"
        out += "# TYPE latch_request_duration_seconds histogram\n"
        for (series, tally) in tallies {
            var cumulative = 0
            for (i, bound) in bucketBounds.enumerated() {
                cumulative += tally.buckets[i]
                out += "latch_request_duration_seconds_bucket{\(labels(series, ("le", seconds(bound))))} \(cumulative)\n"
            }
            out += "latch_request_duration_seconds_bucket{\(labels(series, ("le", "+Inf")))} \(tally.total)\n"
            out += "latch_request_duration_seconds_sum{\(labels(series))} \(Double(tally.sumMicroseconds) / 1e6)\n"
            out += "latch_request_duration_seconds_count{\(labels(series))} \(tally.total)\n"
        }
        return out
    }

    /// Status classes every series shows from the start (at 0): what a node or Latch answers.
    static let usualClasses: Set<String> = ["none", "2xx", "3xx", "4xx", "5xx"]

    private static func labels(_ series: RequestSeries, _ extra: (String, String)...) -> String {
        ([("cluster", series.cluster), ("node", series.node)] + extra)
            .map { "\($0.0)=\"\(escaped($0.1))\"" }
            .joined(separator: ",")
    }

    /// A label value as the text format wants it: backslash, double quote and line feed escaped.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    private static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.wholeNanoseconds) / 1e9
        return value == value.rounded() ? String(Int(value)) + ".0" : String(value)
    }
}
