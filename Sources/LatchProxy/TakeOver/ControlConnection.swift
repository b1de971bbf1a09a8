#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LatchCore
import NIOCore
import NIOPosix

/// One connection on a control socket: messages out, messages in (with the bytes read past the last
/// one kept for the next), each call blocking and run on SwiftNIO's thread pool.
///
/// `@unchecked Sendable`: it moves between the caller's task and a pool thread, but its calls are
/// awaited one at a time, so only one thread touches `pending` at once.
final class ControlConnection: @unchecked Sendable {
    let descriptor: CInt
    private var pending: [UInt8] = []

    init(descriptor: CInt) {
        self.descriptor = descriptor
    }

    func send(_ message: TakeOverMessage, descriptors: [CInt] = []) async throws {
        try await NIOThreadPool.singleton.runIfActive { [self] in
            try UnixSocket.send(descriptor, message, descriptors: descriptors)
        }
    }

    /// The next message and the descriptors that came with it; `nil` when the other side closed or
    /// `milliseconds` passed first.
    func receive(milliseconds: Int32) async throws -> (TakeOverMessage, [CInt])? {
        try await NIOThreadPool.singleton.runIfActive { [self] in
            try UnixSocket.receive(descriptor, milliseconds: milliseconds, pending: &pending)
        }
    }

    func close() {
        _ = closeDescriptor(descriptor)
    }
}

/// `close(2)`, by a name that a method called `close` does not hide.
private func closeDescriptor(_ descriptor: CInt) -> CInt {
    close(descriptor)
}
