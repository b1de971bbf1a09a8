/// A connection's open streams, by id: an array in ascending id order, searched by halving.
///
/// Not a dictionary: every frame looks its stream up, and hashing a stream id (Swift's seeded
/// SipHash) cost about 1,200 instructions per stream under callgrind, on a stream of three or four
/// frames. A client opens its streams in ascending id order (RFC 9113 §5.1.1), so a new one goes at
/// the end; at most `SETTINGS_MAX_CONCURRENT_STREAMS` (100) are open, so closing one in the middle
/// moves at most 99 entries.
struct HTTP2StreamTable<Stream: HTTP2Identified> {
    private(set) var all: [Stream] = []

    var isEmpty: Bool { all.isEmpty }
    var count: Int { all.count }

    subscript(id: Stream.ID) -> Stream? {
        index(of: id).map { all[$0] }
    }

    /// Changes the stream with `id` in place; `nil` if the table does not hold it.
    mutating func modify<Result>(_ id: Stream.ID, _ body: (inout Stream) throws(H2ConnectionError) -> Result) throws(H2ConnectionError) -> Result? {
        guard let index = index(of: id) else { return nil }
        return try body(&all[index])
    }

    /// Changes every stream in place.
    mutating func modifyAll(_ body: (inout Stream) throws(H2ConnectionError) -> Void) throws(H2ConnectionError) {
        for index in all.indices { try body(&all[index]) }
    }

    /// Adds `stream`, whose id is not in the table.
    mutating func insert(_ stream: Stream) {
        assert(self[stream.id] == nil, "stream \(stream.id) is in the table already")
        if let last = all.last, stream.id < last.id {
            all.insert(stream, at: insertionIndex(of: stream.id))
        } else {
            all.append(stream)
        }
    }

    @discardableResult
    mutating func remove(_ id: Stream.ID) -> Stream? {
        index(of: id).map { all.remove(at: $0) }
    }

    mutating func removeAll() {
        all.removeAll()
    }

    private func index(of id: Stream.ID) -> Int? {
        let index = insertionIndex(of: id)
        return index < all.count && all[index].id == id ? index : nil
    }

    /// The first position whose stream's id is not below `id`.
    private func insertionIndex(of id: Stream.ID) -> Int {
        var low = 0
        var high = all.count
        while low < high {
            let middle = (low + high) / 2
            if all[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// What the table keeps: something with a stream id (``HTTP2Stream``, ``H2StreamState``).
protocol HTTP2Identified {
    associatedtype ID: Comparable
    var id: ID { get }
}
