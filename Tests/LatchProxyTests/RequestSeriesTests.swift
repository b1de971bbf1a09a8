import LatchCore
import Testing

@testable import LatchProxy

@Suite("Request series: per-loop shards summed at the scrape")
struct RequestSeriesTests {
    @Test func shardsAreSummed() {
        let series = RequestSeries(cluster: "shop", node: "tomcat1", shards: 2)
        let sticky = RequestSeries.reasonIndex(.sticky)
        series.record(shard: 0, reason: sticky, status: 200, duration: .milliseconds(3))
        series.record(shard: 1, reason: sticky, status: 204, duration: .milliseconds(700))
        series.record(shard: 1, reason: RequestSeries.reasonIndex(.newSession), status: nil, duration: .seconds(120))
        let tally = series.tally()
        #expect(tally.count(reason: "sticky", statusClass: "2xx") == 2)
        #expect(tally.count(reason: "new", statusClass: "none") == 1)
        #expect(tally.total == 3)
        // 3 ms in the 5 ms bucket, 700 ms in the 1 s one; 120 s is past the last bound (only +Inf).
        #expect(tally.buckets[1] == 1)
        #expect(tally.buckets[8] == 1)
        #expect(tally.buckets.reduce(0, +) == 2)
        #expect(tally.sumMicroseconds == 3_000 + 700_000 + 120_000_000)
    }

    @Test func statusesOutsideTheClassesLandInTheNearestOne() {
        let series = RequestSeries(cluster: "shop", node: "-", shards: 1)
        let rejected = RequestSeries.reasonIndex(.rejected)
        series.record(shard: 0, reason: rejected, status: 999, duration: .zero)
        series.record(shard: 0, reason: rejected, status: 42, duration: .zero)
        let tally = series.tally()
        #expect(tally.count(reason: "rejected", statusClass: "9xx") == 1)
        #expect(tally.count(reason: "rejected", statusClass: "1xx") == 1)
    }

    @Test func exposition() {
        let series = RequestSeries(cluster: "shop", node: "tomcat1", shards: 1)
        let idle = RequestSeries(cluster: "shop", node: "tomcat2", shards: 1)
        series.record(shard: 0, reason: RequestSeries.reasonIndex(.sticky), status: 200, duration: .milliseconds(20))
        series.record(shard: 0, reason: RequestSeries.reasonIndex("redirect")!, status: 308, duration: .milliseconds(2))
        let lines = RequestSeries.exposition([series, idle]).split(separator: "\n").map(String.init)
        #expect(lines.contains(#"latch_requests_total{cluster="shop",node="tomcat1",reason="sticky",status_class="2xx"} 1"#))
        #expect(lines.contains(#"latch_requests_total{cluster="shop",node="tomcat1",reason="redirect",status_class="3xx"} 1"#))
        #expect(lines.contains(#"latch_request_duration_seconds_bucket{cluster="shop",node="tomcat1",le="0.005"} 1"#))
        #expect(lines.contains(#"latch_request_duration_seconds_bucket{cluster="shop",node="tomcat1",le="0.025"} 2"#))
        #expect(lines.contains(#"latch_request_duration_seconds_bucket{cluster="shop",node="tomcat1",le="60.0"} 2"#))
        #expect(lines.contains(#"latch_request_duration_seconds_bucket{cluster="shop",node="tomcat1",le="+Inf"} 2"#))
        #expect(lines.contains(#"latch_request_duration_seconds_count{cluster="shop",node="tomcat1"} 2"#))
        #expect(lines.contains(#"latch_request_duration_seconds_sum{cluster="shop",node="tomcat1"} 0.022"#))
        // A series with no request is there at 0 (the usual status classes, an empty histogram), not
        // the rare classes; each family is described and typed once.
        #expect(lines.contains(#"latch_requests_total{cluster="shop",node="tomcat2",reason="sticky",status_class="5xx"} 0"#))
        #expect(!lines.contains { $0.contains("tomcat2") && $0.contains("status_class=\"1xx\"") })
        #expect(lines.contains(#"latch_request_duration_seconds_count{cluster="shop",node="tomcat2"} 0"#))
        #expect(lines.filter { $0.hasPrefix("# TYPE") }.count == 2)
        #expect(lines.filter { $0.hasPrefix("# HELP") }.count == 2)
    }

    @Test func labelValuesAreEscaped() {
        #expect(RequestSeries.escaped(#"a"b\c"# + "\n") == #"a\"b\\c\n"#)
    }
}
