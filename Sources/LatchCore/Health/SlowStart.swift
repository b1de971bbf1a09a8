/// Slow start for one node (`slow_start`), as HAProxy's `slowstart` and Envoy's `slow_start_config`:
/// a node that becomes usable again — back up after a failed check or an ejection, out of
/// maintenance, or added by a reload — is cold (a JVM's JIT, caches and pools are empty), so for
/// `duration` it gets only part of its weight for *balanced* requests, rising linearly from
/// ``initialShare`` to the whole of it. Sticky requests and failovers to it are never held back: a
/// session's state is on its node whatever its temperature.
///
/// Not at Latch's own start: the nodes it starts with were serving before it ran (a restart of Latch
/// must not slow a whole cluster). A plain value driven by explicit instants, so it is tested
/// without a clock; the caller reports what it sees through ``observe(usable:at:)``.
public struct SlowStart<Instant: InstantProtocol>: Sendable, Equatable where Instant.Duration == Swift.Duration {
    /// The share of its weight a node gets the moment it comes back, per mille (10 %, Envoy's
    /// `min_weight_percent` default): small, but enough for it to warm up on real traffic.
    public static var initialShare: Int { 100 }

    /// How long the ramp lasts; `nil`: no slow start.
    public var duration: Duration?
    /// Whether the node was usable at the last observation; `nil` before the first one for a node
    /// Latch started with (its first verdict is no return).
    private var wasUsable: Bool?
    /// When the node last became usable again.
    public private(set) var since: Instant?

    /// - Parameter fromStart: a node Latch starts with (no ramp when it is first seen usable);
    ///   `false` for a node a reload added, which ramps up as soon as it is usable.
    public init(duration: Duration?, fromStart: Bool) {
        self.duration = duration
        self.wasUsable = fromStart ? nil : false
    }

    /// Reports whether the node may serve now; a change from not usable to usable starts the ramp.
    /// Observations while the node's health is still undecided should not be reported.
    public mutating func observe(usable: Bool, at now: Instant) {
        if usable, wasUsable == false { since = now }
        wasUsable = usable
    }

    /// The part of its weight the node gets at `now`, per mille: ``Balancer/fullShare`` when no
    /// ramp is running, else linear from ``initialShare`` at `since` to full at `since + duration`.
    /// Pre-specialized for the proxy's clock: it runs for every node at each new session's choice, and
    /// the generic version looks up `Optional<Instant>`'s metadata at run time.
    @_specialize(exported: true, where Instant == MonotonicInstant)
    public func share(at now: Instant) -> Int {
        guard let duration, let since else { return Balancer.fullShare }
        let elapsed = since.duration(to: now)
        guard elapsed < duration else { return Balancer.fullShare }
        guard elapsed > .zero else { return Self.initialShare }
        let fraction = elapsed / duration
        let span = Double(Balancer.fullShare - Self.initialShare)
        return min(Balancer.fullShare, Self.initialShare + Int((span * fraction).rounded(.down)))
    }

    /// Whether the ramp is still running at `now` (shown in the admin API while it lasts).
    public func isRamping(at now: Instant) -> Bool {
        share(at: now) < Balancer.fullShare
    }
}
