/// A small, fast pseudo-random generator (SplitMix64, Steele, Lea & Flood 2014) for load-balancing
/// choices. `SystemRandomNumberGenerator` makes a `getrandom` system call per number — about 1 µs on
/// the request path for `random_two`; balancing needs spread, not secrecy, so a generator seeded once
/// from the system one is enough.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// Seeded from the system generator.
    public init() {
        var system = SystemRandomNumberGenerator()
        self.init(seed: system.next())
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
