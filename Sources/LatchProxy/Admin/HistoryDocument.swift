import Foundation
import LatchCore

/// The JSON of `GET /api/history`: per cluster and node, the points and events of its
/// ``NodeHistory``, oldest first. Times are Unix seconds (numbers, for charts). Every point and event
/// has a `sequence` number; `?after=N` leaves out those up to `N`, so a page that polls with the
/// document's `sequence` fetches only what is new — by order of storing, not by time, so a clock
/// stepped back loses nothing.
struct HistoryDocument: Encodable {
    var intervalSeconds: Double
    /// The most points a node keeps.
    var pointsKept: Int
    var started: Double
    /// The server's clock, so a page can draw against it rather than the browser's.
    var now: Double
    /// The last sequence number given when the document was made: the next `after`.
    var sequence: UInt64
    var clusters: [Cluster]

    struct Cluster: Encodable {
        var name: String
        var nodes: [Node]
    }

    struct Node: Encodable {
        var name: String
        var stateSince: Double
        var healthSince: Double?
        var drainEndEstimate: Double?
        var points: [HistoryPoint]
        var events: [HistoryEvent]
    }

    static func make(_ clusters: [ClusterRuntime], histories: NodeHistories, after: UInt64?, now: Date = Date()) -> HistoryDocument {
        let (kept, sequence) = histories.all()
        let new = { (number: UInt64) in after.map { number > $0 } ?? true }
        return HistoryDocument(
            intervalSeconds: Double(histories.interval.wholeNanoseconds) / 1e9,
            pointsKept: histories.capacity,
            started: histories.started.timeIntervalSince1970,
            now: NodeHistories.milliseconds(now),
            sequence: sequence,
            clusters: clusters.map { cluster in
                Cluster(
                    name: cluster.config.name,
                    nodes: cluster.config.nodes.map { node in
                        let history = kept[NodeHistories.Key(cluster: cluster.config.name, node: node.name, address: node.address)]
                        return Node(
                            name: node.name,
                            stateSince: history?.stateSince ?? histories.started.timeIntervalSince1970,
                            healthSince: history?.healthSince,
                            drainEndEstimate: history?.drainEndEstimate,
                            points: history?.points.elements.filter { new($0.sequence) } ?? [],
                            events: history?.events.elements.filter { new($0.sequence) } ?? []
                        )
                    }
                )
            }
        )
    }

    func json() -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    /// `after` from a query string (`after=1234`); `nil` when absent or not a number.
    static func after(query: Substring?) -> UInt64? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == "after" { return UInt64(parts[1]) }
        }
        return nil
    }
}
