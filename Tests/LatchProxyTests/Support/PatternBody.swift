import NIOCore

/// `total` bytes of ``TestPattern`` produced on demand, chunk by chunk, so an upload of any size holds
/// one chunk at a time and the consumer's pace (the HTTP client's backpressure) sets the production rate.
struct PatternBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let total: Int
    var chunkSize = 64 * 1024

    struct AsyncIterator: AsyncIteratorProtocol {
        let total: Int
        let chunkSize: Int
        var offset = 0

        mutating func next() async -> ByteBuffer? {
            guard offset < total else { return nil }
            let n = Swift.min(chunkSize, total - offset)
            defer { offset += n }
            return TestPattern.chunk(offset: offset, count: n)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(total: total, chunkSize: chunkSize) }

    /// The checksum the receiver must report.
    static func expectedChecksum(total: Int) -> UInt64 {
        var sum = StreamChecksum()
        var offset = 0
        while offset < total {
            let n = Swift.min(64 * 1024, total - offset)
            sum.update(TestPattern.chunk(offset: offset, count: n))
            offset += n
        }
        return sum.final
    }
}
