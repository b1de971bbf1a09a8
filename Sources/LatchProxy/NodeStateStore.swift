import Foundation
import LatchCore
import Logging
import NIOConcurrencyHelpers

/// The node states operators set at runtime, written to `state_file` on every change so they survive a
/// restart. Without a state file they live only as long as the process.
final class NodeStateStore: Sendable {
    let path: String?
    private let logger: Logger
    private let file: NIOLockedValueBox<NodeStateFile>
    private let writing = NIOLock()

    init(path: String?, logger: Logger) {
        self.path = path
        self.logger = logger
        var loaded = NodeStateFile()
        if let path {
            do {
                loaded = try NodeStateFile.load(path: path)
            } catch {
                // Starting with lb.yaml's states beats not starting; the operator is told why.
                logger.error("ignoring the state file: \(error.description)")
            }
        }
        self.file = NIOLockedValueBox(loaded)
    }

    /// What the state file held at start.
    var kept: NodeStateFile { file.withLockedValue { $0 } }

    func keep(cluster: String, node: String, _ state: NodeState) {
        // One writer at a time, each writing the newest snapshot: two changes saved out of order must not
        // leave the older one on disk.
        writing.withLock {
            let snapshot = file.withLockedValue { file in
                file.states[cluster, default: [:]][node] = state
                return file
            }
            save(snapshot)
        }
    }

    private func save(_ snapshot: NodeStateFile) {
        guard let path else { return }
        do {
            try snapshot.save(path: path)
        } catch {
            logger.error("cannot write the state file", metadata: ["path": "\(path)", "error": "\(error.localizedDescription)"])
        }
    }
}
