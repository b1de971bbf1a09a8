/// When a draining node's last session is expected to end: a straight line fitted (least squares)
/// through its recent session counts, followed to 0.
///
/// Sessions leave a draining node as their users stop (the session idle time passes), so the count
/// falls roughly steadily; a fit over several minutes smooths the 10-second wobble. No estimate when
/// the count is not falling: an honest "unknown" beats a date in the far future.
public enum DrainEstimate {
    /// - Parameters:
    ///   - samples: (Unix time in seconds, sessions) oldest first, taken while draining.
    ///   - window: only the samples this many seconds before the newest are fitted.
    /// - Returns: the Unix time the fitted line reaches 0 (never before the newest sample); `nil` with
    ///   fewer than 3 samples in the window, or a count that is not falling. The newest sample's time
    ///   when the count is already 0.
    public static func zeroAt(_ samples: [(time: Double, sessions: Int)], window: Double = 300) -> Double? {
        guard let newest = samples.last else { return nil }
        if newest.sessions == 0 { return newest.time }
        let fitted = samples.filter { $0.time >= newest.time - window }
        guard fitted.count >= 3 else { return nil }
        let n = Double(fitted.count)
        let meanT = fitted.reduce(0) { $0 + $1.time } / n
        let meanS = fitted.reduce(0) { $0 + Double($1.sessions) } / n
        var covariance = 0.0
        var variance = 0.0
        for sample in fitted {
            covariance += (sample.time - meanT) * (Double(sample.sessions) - meanS)
            variance += (sample.time - meanT) * (sample.time - meanT)
        }
        guard variance > 0 else { return nil }
        let slope = covariance / variance
        guard slope < 0 else { return nil }
        // Followed from the newest count rather than the line's own value there, so the estimate
        // does not promise a time already past while sessions remain.
        let fromNewest = newest.time + Double(newest.sessions) / -slope
        return fromNewest.isFinite ? fromNewest : nil
    }
}
