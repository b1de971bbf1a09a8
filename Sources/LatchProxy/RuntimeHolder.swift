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

    init(_ runtime: ProxyRuntime) {
        self.box = NIOLockedValueBox(runtime)
    }

    var current: ProxyRuntime { box.withLockedValue { $0 } }

    /// Raised by every ``replace(with:)``, after the new runtime is in place: read it before
    /// ``current``, and a later read that finds it unchanged means the runtime has not been replaced.
    var generation: Int { replacements.load(ordering: .acquiring) }

    func replace(with runtime: ProxyRuntime) {
        box.withLockedValue { $0 = runtime }
        replacements.wrappingAdd(1, ordering: .releasing)
    }
}
