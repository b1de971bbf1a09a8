import NIOCore

/// Scratch storage of one event loop (its ``UpstreamPool`` holds it), used again once an exchange is
/// done with it: write buffers and the line tables of parsed heads.
///
/// Every exchange builds the node's request head and the client's response head (with a small body
/// gathered behind it) into a buffer of its own, and each parsed head lists its field lines in an
/// array of its own; allocating each — and freeing it again a moment later — cost 300–500
/// instructions under callgrind, per buffer or table and request. A buffer comes back here after it
/// was flushed, a table when its exchange is over, and the next exchange on the loop uses them.
///
/// Safe whenever something comes back: `ByteBuffer` and `Array` are copy-on-write, so clearing one
/// that is still referenced elsewhere (a buffer in a slow client's pending writes, a table whose head
/// a pipelined request still holds) gives the taker fresh storage and leaves the other alone. Coming
/// back too early costs an allocation, never bytes.
///
/// Bounded: at most ``limit`` buffers of at most ``largest`` bytes, and ``limit`` tables of at most
/// ``largestTable`` lines, wait here, so a loop keeps no more than about 300 KiB whatever the traffic
/// was; an idle client connection holds none.
final class LoopBuffers {
    static let limit = 8
    static let largest = 32 * 1024
    static let largestTable = 64
    /// A usual head's fields fit without growing the table (a reallocation and a copy).
    static let tableCapacity = 16

    private var spare: [ByteBuffer] = []
    private var spareTables: [[FieldLines.Line]] = []

    init() {
        spare.reserveCapacity(Self.limit)
        spareTables.reserveCapacity(Self.limit)
    }

    /// A buffer with room for `capacity` bytes, empty; a spare one when there is one.
    func take(capacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = spare.popLast() else { return allocator.buffer(capacity: capacity) }
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    /// `buffer` was written and flushed (or is about to be dropped): the next ``take(capacity:allocator:)`` may reuse it.
    func giveBack(_ buffer: ByteBuffer) {
        guard spare.count < Self.limit, buffer.capacity <= Self.largest else { return }
        spare.append(buffer)
    }

    /// An empty table for a head's field lines; a spare one when there is one.
    func takeTable() -> [FieldLines.Line] {
        guard var table = spareTables.popLast() else { return Self.newTable() }
        table.removeAll(keepingCapacity: true)
        return table
    }

    /// The head that listed its lines in `table` is done with (or about to be).
    func giveBack(table: [FieldLines.Line]) {
        guard spareTables.count < Self.limit, table.capacity >= Self.tableCapacity, table.capacity <= Self.largestTable else { return }
        spareTables.append(table)
    }

    static func newTable() -> [FieldLines.Line] {
        var table: [FieldLines.Line] = []
        table.reserveCapacity(tableCapacity)
        return table
    }

    /// Buffers waiting (tests).
    var spareCount: Int { spare.count }
    /// Tables waiting (tests).
    var spareTableCount: Int { spareTables.count }
}
