/// A quantile of request durations from histogram buckets, estimated the way Prometheus's
/// `histogram_quantile` does: find the bucket the rank falls in and interpolate linearly inside it.
/// Coarse by nature (the buckets are 1 ms … 60 s), which is what a chart of a minute's p99 needs.
public enum LatencyQuantile {
    /// - Parameters:
    ///   - quantile: 0…1 (0.5 for the median, 0.99).
    ///   - counts: requests per bucket, not cumulative, one per bound, then optionally one past the
    ///     last bound.
    ///   - bounds: the buckets' upper bounds in milliseconds, increasing.
    /// - Returns: milliseconds, or `nil` without requests. A rank past the last bound is reported as
    ///   the last bound (Prometheus does the same: the histogram cannot say more).
    public static func estimate(_ quantile: Double, counts: [Int], bounds: [Double]) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0, !bounds.isEmpty else { return nil }
        let rank = min(max(quantile, 0), 1) * Double(total)
        var below = 0
        for (i, bound) in bounds.enumerated() {
            let inBucket = i < counts.count ? counts[i] : 0
            if inBucket > 0, Double(below + inBucket) >= rank {
                let lower = i == 0 ? 0 : bounds[i - 1]
                let fraction = (rank - Double(below)) / Double(inBucket)
                return lower + (bound - lower) * max(fraction, 0)
            }
            below += inBucket
        }
        return bounds[bounds.count - 1]
    }
}
