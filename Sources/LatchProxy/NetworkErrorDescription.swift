#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// `Connection refused`, `connect timed out`, `host name did not resolve`… — what an operator wants in
/// a log line or an error, rather than a Swift error dump with syscall names.
public func describeNetworkError(_ error: any Error) -> String {
    if let io = error as? IOError {
        return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
    }
    if let channelError = error as? ChannelError, case .connectTimeout = channelError {
        return "connect timed out"
    }
    if let multi = error as? NIOConnectionError {
        if let first = multi.connectionErrors.first { return describeNetworkError(first.error) }
        if multi.dnsAError != nil || multi.dnsAAAAError != nil { return "host name did not resolve" }
        return "no address to connect to"
    }
    return "\(error)"
}

/// ECONNREFUSED, directly or inside NIO's multi-address connect error: nothing listens there.
public func isConnectionRefused(_ error: any Error) -> Bool {
    if let io = error as? IOError { return io.errnoCode == ECONNREFUSED }
    if let multi = error as? NIOConnectionError {
        return !multi.connectionErrors.isEmpty && multi.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
    }
    return false
}
