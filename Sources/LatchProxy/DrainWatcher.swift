import LatchCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Once a second, moves draining nodes that are done (no session left, or past the drain deadline) to
/// `maintenance`, through the same path as an operator's change, so it is logged and kept in the state file.
final class DrainWatcher: Sendable {
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)

    func start(server: ProxyServer, on loop: any EventLoop, every interval: TimeAmount = .seconds(1)) {
        let repeated = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            for cluster in server.runtime.clusters {
                for (node, why) in cluster.finishedDraining() {
                    let name = cluster.config.nodes[node].name
                    // Only if still draining: an operator's change made meanwhile wins.
                    if server.setNodeState(cluster: cluster.config.name, node: name, .maintenance, ifCurrently: .draining) != nil {
                        server.logger.notice(
                            "draining node is done",
                            metadata: ["cluster": "\(cluster.config.name)", "node": "\(name)", "why": "\(why)"]
                        )
                    }
                }
            }
        }
        task.withLockedValue { $0 = repeated }
    }

    func stop() {
        task.withLockedValue { task in
            task?.cancel()
            task = nil
        }
    }
}
