import NIOCore

/// Write buffers of one event loop (its ``UpstreamPool`` holds them), used again once written.
///
/// Every exchange builds the node's request head and the client's response head (with a small body
/// gathered behind it) into a buffer of its own; allocating each — a storage object and its bytes,
/// freed again a moment later — cost about 500 instructions under callgrind, per buffer and request.
/// A buffer comes back here after it was flushed, and the next exchange on the loop writes into it.
///
/// Safe whenever a buffer comes back: `ByteBuffer` is copy-on-write, so clearing one that a channel
/// still holds in its pending writes (a client reading slowly) gives the taker fresh storage and
/// leaves the queued bytes alone. Coming back too early costs an allocation, never bytes.
///
/// Bounded: at most ``limit`` buffers of at most ``largest`` bytes wait, so a loop keeps no more than
/// 256 KiB here whatever the traffic was; an idle client connection holds none.
final class WriteBuffers {
    static let limit = 8
    static let largest = 32 * 1024

    private var spare: [ByteBuffer] = []

    init() {
        spare.reserveCapacity(Self.limit)
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

    /// Buffers waiting (tests).
    var spareCount: Int { spare.count }
}
