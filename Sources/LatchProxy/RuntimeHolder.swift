import NIOConcurrencyHelpers
import Synchronization

/// The runtime in force, swapped whole on reload. Readers take a reference under a lock held for a
/// pointer copy; a connection keeps the runtime its current exchange started with.
///
/// A connection asks before every request whether the runtime changed: through ``generation``, an
/// atomic counter read without a lock and written only by reloads. Taking the lock instead would
/// have every event loop write the same lock word per request, a cache line bounced between cores
/// for something that changes a few times a day.
final class RuntimeHolder: Sendable {
    private let box: NIOLockedValueBox<ProxyRuntime>
    private let replacements = Synchronization.Atomic<Int>(0)
    private let quiescing = Synchronization.Atomic<Bool>(false)

    init(_ runtime: ProxyRuntime) {
        self.box = NIOLockedValueBox(runtime)
    }

    var current: ProxyRuntime { box.withLockedValue { $0 } }

    /// Raised by every ``replace(with:)``, after the new runtime is in place: read it before
    /// ``current``, and a later read that finds it unchanged means the runtime has not been replaced.
    var generation: Int { replacements.load(ordering: .acquiring) }

    /// Shutdown or a take-over has begun: a connection set up from now on serves at most one request.
    /// Read once per connection, when its handler is added.
    var isQuiescing: Bool { quiescing.load(ordering: .acquiring) }

    /// Set before the open connections are asked to quiesce, so a connection accepted meanwhile is
    /// either asked or sees this.
    func beginQuiescing() {
        quiescing.store(true, ordering: .releasing)
    }

    func replace(with runtime: ProxyRuntime) {
        box.withLockedValue { $0 = runtime }
        replacements.wrappingAdd(1, ordering: .releasing)
    }
}
