import Foundation
import LatchCore

/// The JSON of `GET /api/history`: per cluster and node, the points and events of its
/// ``NodeHistory``, oldest first. Times are Unix seconds (numbers, for charts); `?since=T` leaves out
/// points and events at or before `T`, so a page that polls fetches only what is new.
struct HistoryDocument: Encodable {
    var intervalSeconds: Double
    /// The most points a node keeps.
    var pointsKept: Int
    var started: Double
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

    static func make(_ clusters: [ClusterRuntime], histories: NodeHistories, since: Double?) -> HistoryDocument {
        let kept = histories.all()
        // Times are whole milliseconds (``NodeHistories/milliseconds(_:)``): half of one absorbs a
        // `since` that came back from a JSON parser an ulp off.
        let after = { (time: Double) in since.map { time > $0 + 0.0005 } ?? true }
        return HistoryDocument(
            intervalSeconds: Double(histories.interval.wholeNanoseconds) / 1e9,
            pointsKept: histories.capacity,
            started: histories.started.timeIntervalSince1970,
            clusters: clusters.map { cluster in
                Cluster(
                    name: cluster.config.name,
                    nodes: cluster.config.nodes.map { node in
                        let history = kept[NodeHistories.Key(cluster: cluster.config.name, node: node.name)]
                        return Node(
                            name: node.name,
                            stateSince: history?.stateSince ?? histories.started.timeIntervalSince1970,
                            healthSince: history?.healthSince,
                            drainEndEstimate: history?.drainEndEstimate,
                            points: history?.points.elements.filter { after($0.time) } ?? [],
                            events: history?.events.elements.filter { after($0.time) } ?? []
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

    /// `since` from a query string (`since=1733400000.5`); `nil` when absent or not a number.
    static func since(query: Substring?) -> Double? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == "since" { return Double(parts[1]) }
        }
        return nil
    }
}
