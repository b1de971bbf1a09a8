import NIOConcurrencyHelpers

/// The runtime in force, swapped whole on reload. Readers take a reference under a lock held for a
/// pointer copy; a connection keeps the runtime its current exchange started with.
final class RuntimeHolder: Sendable {
    private let box: NIOLockedValueBox<ProxyRuntime>

    init(_ runtime: ProxyRuntime) {
        self.box = NIOLockedValueBox(runtime)
    }

    var current: ProxyRuntime { box.withLockedValue { $0 } }

    func replace(with runtime: ProxyRuntime) {
        box.withLockedValue { $0 = runtime }
    }
}
