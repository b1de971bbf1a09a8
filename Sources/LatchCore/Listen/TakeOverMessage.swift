/// What two Latch processes say to each other on the control socket when a new one takes the
/// listening sockets of the one running (`latch run --take-over`). Pure: values to text and back;
/// the descriptors travel beside the ``listeners(pid:_:)`` message (SCM_RIGHTS), one per entry, in order.
///
/// Each message is lines of text ending with an empty line:
///
///     new → old   LATCH TAKE-OVER 1 /etc/latch/lb.yaml      the lb.yaml the new process runs
///     old → new   LISTENERS 4242                             the old process's pid, then one line per socket
///                 listen 0.0.0.0:443
///                 admin 127.0.0.1:9090
///     new → old   READY                                      it has set up on them, and waits
///     old → new   RELEASED                                   the old one has paused accepting
///     new → old   ACCEPTING                                  the new one accepts now: the old one
///                                                            closes its listeners, gives up the
///                                                            control socket, closes the connection
///     old → new   REFUSED <why>                              instead of LISTENERS or RELEASED
///
/// Until ACCEPTING the old process can take everything back: if the new one goes away, it accepts
/// again and serves on.
public enum TakeOverMessage: Equatable, Sendable {
    case request(configPath: String)
    case listeners(pid: Int32, [Socket])
    case ready
    case released
    case accepting
    case refused(String)

    /// The protocol's version, in the request: a process that does not speak it refuses.
    public static let version = 1

    /// One listening socket handed over: a `listen` entry or the admin listener, by the address its
    /// lb.yaml gives (port 0 included: the receiving side matches on the configured text).
    public struct Socket: Equatable, Sendable {
        public enum Kind: String, Sendable { case listen, admin }
        public var kind: Kind
        public var address: HostPort

        public init(_ kind: Kind, _ address: HostPort) {
            self.kind = kind
            self.address = address
        }
    }

    /// Why bytes from the other process are not a message of this protocol.
    public struct Malformed: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    public var text: String {
        switch self {
        case .request(let path): "LATCH TAKE-OVER \(Self.version) \(Self.oneLine(path))\n\n"
        case .listeners(let pid, let sockets): "LISTENERS \(pid)\n" + sockets.map { "\($0.kind.rawValue) \($0.address)\n" }.joined() + "\n"
        case .ready: "READY\n\n"
        case .released: "RELEASED\n\n"
        case .accepting: "ACCEPTING\n\n"
        case .refused(let why): "REFUSED \(Self.oneLine(why))\n\n"
        }
    }

    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    /// The first whole message in `bytes` and how many bytes it took; `nil` when it has not all come.
    public static func first(in bytes: [UInt8]) throws(Malformed) -> (TakeOverMessage, length: Int)? {
        guard let end = zip(bytes.indices, bytes.dropFirst()).first(where: { bytes[$0.0] == 0x0A && $0.1 == 0x0A })?.0 else {
            if bytes.count > 64 * 1024 { throw Malformed(description: "no message end within 64 KiB") }
            return nil
        }
        let text = String(decoding: bytes[..<end], as: UTF8.self)
        return (try parse(text), end + 2)
    }

    static func parse(_ text: String) throws(Malformed) -> TakeOverMessage {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let first = lines[0]
        let words = first.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        switch words.first {
        case "LATCH":
            guard words.count == 4, words[1] == "TAKE-OVER" else { throw Malformed(description: "not a take-over request: \(first)") }
            guard words[2] == "\(version)" else {
                throw Malformed(description: "take-over protocol version \(words[2]) is not \(version): the two Latch versions cannot hand over")
            }
            return .request(configPath: String(words[3]))
        case "LISTENERS":
            guard words.count == 2, let pid = Int32(words[1]) else { throw Malformed(description: "bad LISTENERS line: \(first)") }
            var sockets: [Socket] = []
            for line in lines.dropFirst() {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, let kind = Socket.Kind(rawValue: String(parts[0])), let address = HostPortParser.parse(String(parts[1])) else {
                    throw Malformed(description: "bad listener line: \(line)")
                }
                sockets.append(Socket(kind, address))
            }
            return .listeners(pid: pid, sockets)
        case "READY" where lines.count == 1 && words.count == 1: return .ready
        case "RELEASED" where lines.count == 1 && words.count == 1: return .released
        case "ACCEPTING" where lines.count == 1 && words.count == 1: return .accepting
        case "REFUSED": return .refused(String(first.dropFirst("REFUSED ".count)))
        default: throw Malformed(description: "unknown message: \(first)")
        }
    }
}

/// Which received socket each listener of the new configuration serves on: the first unused one of
/// the same kind and configured address. A listener with none is bound afresh; a received socket
/// no listener wants is closed (the old process stops accepting on it too).
public struct TakeOverAssignment: Equatable, Sendable {
    /// Per `listen` entry of the new configuration: the index of its received socket.
    public var listeners: [Int?]
    /// The admin listener's received socket.
    public var admin: Int?
    /// Received sockets nothing wants.
    public var unused: [Int]

    public init(received: [TakeOverMessage.Socket], listeners wanted: [HostPort], admin: HostPort?) {
        var taken = Set<Int>()
        func take(_ kind: TakeOverMessage.Socket.Kind, _ address: HostPort) -> Int? {
            guard let index = received.indices.first(where: { !taken.contains($0) && received[$0].kind == kind && received[$0].address == address })
            else { return nil }
            taken.insert(index)
            return index
        }
        self.listeners = wanted.map { take(.listen, $0) }
        self.admin = admin.flatMap { take(.admin, $0) }
        self.unused = received.indices.filter { !taken.contains($0) }
    }
}
