/// A deterministic 64-bit hash of a session id: FNV-1a 64 over the bytes, then the murmur3 `fmix64`
/// finalizer so every output bit depends on every input bit (HyperLogLog reads the top bits for the
/// register index and the rest for the rank; FNV-1a alone leaves them poorly mixed for ids that differ
/// only in their last characters). The finalizer is a bijection, so it adds no collisions.
///
/// Not Swift's `Hasher`: its seed is random per process, and counts must be reproducible.
public enum SessionHash {
    /// The hash of bytes already in memory (the proxy's case: an id in a request's buffer), without
    /// the generic entry point a call from another module goes through.
    public static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        fmix64(fnv1a(bytes))
    }

    public static func hash<Bytes: Collection>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        if let fnv = bytes.withContiguousStorageIfAvailable({ fnv1a($0) }) {
            return fmix64(fnv)
        }
        var fnv: UInt64 = offsetBasis
        for byte in bytes {
            fnv = (fnv ^ UInt64(byte)) &* prime
        }
        return fmix64(fnv)
    }

    private static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x100_0000_01b3

    private static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var fnv = offsetBasis
        for byte in bytes {
            fnv = (fnv ^ UInt64(byte)) &* prime
        }
        return fnv
    }

    static func fmix64(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }
}

/// A HyperLogLog sketch with m = 2^10 one-byte registers (1 KiB) over 64-bit hashes.
///
/// The top 10 bits of a hash pick the register; the register keeps the largest rank seen, where the
/// rank is 1 + the number of leading zeros in the remaining 54 bits (so 1...55). Merging two sketches is
/// the register-wise maximum, which is exactly the sketch of the union.
///
/// The estimate is Otmar Ertl's "improved raw estimator" (Ertl 2017, *New cardinality estimation
/// algorithms for HyperLogLog sketches*, the one Redis uses since 5.0). It is unbiased over the whole
/// range without the empirical bias tables of HyperLogLog++: near zero it behaves like linear counting
/// (it is built on the same count of empty registers), and with 64-bit hashes no large-range
/// correction is needed. Relative standard error ≈ 1.04/√m ≈ 3.25 % for m = 1024.
struct HyperLogLog: Sendable, Equatable {
    static let precision = 10
    static let registerCount = 1 << precision
    /// Bits of the hash left for the rank once the register index is taken.
    static let rankBits = 64 - precision
    /// Standard error of the estimate: 1.04/√m.
    static let standardError = 1.04 / Double(registerCount).squareRoot()

    private(set) var registers: [UInt8]

    init() {
        registers = [UInt8](repeating: 0, count: Self.registerCount)
    }

    mutating func insert(hash: UInt64) {
        let index = Int(truncatingIfNeeded: hash >> UInt64(Self.rankBits))
        // The low `rankBits` bits, shifted to the top; the sentinel bit caps the rank at rankBits + 1.
        let rest = (hash << UInt64(Self.precision)) | (1 << UInt64(Self.precision - 1))
        let rank = UInt8(truncatingIfNeeded: rest.leadingZeroBitCount + 1)
        if rank > registers[index] {
            registers[index] = rank
        }
    }

    /// Register-wise maximum: afterwards `self` is the sketch of the union of both sets.
    mutating func formUnion(_ other: HyperLogLog) {
        for index in 0..<Self.registerCount where other.registers[index] > registers[index] {
            registers[index] = other.registers[index]
        }
    }

    /// Ertl's improved raw estimator; 0 exactly when nothing was inserted.
    func estimate() -> Double {
        let m = Double(Self.registerCount)
        let q = Self.rankBits
        var histogram = [Int](repeating: 0, count: q + 2)
        for register in registers {
            histogram[Int(register)] += 1
        }
        if histogram[0] == Self.registerCount { return 0 }
        var z = m * Self.tau(1 - Double(histogram[q + 1]) / m)
        for k in stride(from: q, through: 1, by: -1) {
            z = 0.5 * (z + Double(histogram[k]))
        }
        z += m * Self.sigma(Double(histogram[0]) / m)
        let alphaInfinity = 0.721_347_520_444_481_7  // 1 / (2 ln 2)
        return alphaInfinity * m * m / z
    }

    /// σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k−1), for x in [0, 1).
    private static func sigma(_ x: Double) -> Double {
        if x == 1 { return .infinity }
        var x = x
        var y = 1.0
        var z = x
        while true {
            x *= x
            let previous = z
            z += x * y
            y += y
            if z == previous { return z }
        }
    }

    /// τ(x) = (1/3)(1 − x − Σ_{k≥1} (1 − x^(2^−k))² 2^−k), for x in [0, 1].
    private static func tau(_ x: Double) -> Double {
        if x == 0 || x == 1 { return 0 }
        var x = x
        var y = 1.0
        var z = 1 - x
        while true {
            x = x.squareRoot()
            let previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == previous { return z / 3 }
        }
    }
}
