import Testing

@testable import LatchProxy

/// The receiving side of HTTP/2 flow control for one stream (RFC 9113 §6.9), with no I/O: when a
/// WINDOW_UPDATE is due, and that held bytes keep their share of the window shut until they are taken.
@Suite("HTTP/2 stream windows")
struct H2StreamStateTests {
    enum Step {
        /// DATA of this many bytes arrived and is held for the reader.
        case received(Int)
        /// The reader took this many bytes.
        case taken(Int)
    }

    /// Each row: steps, and the increment each one leads to.
    static let rows: [(String, [Step], [Int?])] = [
        ("held bytes count as open: nothing is due while they wait", [.received(60_000)], [nil]),
        ("a window still over half open is left alone", [.received(25_535), .taken(25_535)], [nil, nil]),
        ("at half or below, back to the full target in one frame", [.received(32_768), .taken(32_768)], [nil, 32_768]),
        ("a window spent to zero is reopened by the whole target", [.received(65_535), .taken(65_535)], [nil, 65_535]),
        (
            "taken in parts: due once what is open falls to half",
            [.received(60_000), .taken(30_000), .taken(30_000)], [nil, nil, 60_000]
        ),
        (
            "after an update, nothing more is due until half is spent again",
            [.received(40_000), .taken(40_000), .received(1_000), .taken(1_000)], [nil, 40_000, nil, nil]
        ),
    ]

    @Test("increments", arguments: rows.indices)
    func increments(_ row: Int) {
        let (name, steps, expected) = Self.rows[row]
        var stream = H2StreamState(id: 1, phase: .open, inbound: 65_535, outbound: 65_535)
        let got: [Int?] = steps.map { step in
            switch step {
            case .received(let size):
                stream.inbound -= size
                stream.held += size
            case .taken(let size):
                stream.held -= size
            }
            return stream.increment(target: 65_535)
        }
        #expect(got == expected, "\(name)")
    }

    @Test("no update once the client has ended its side (RFC 9113 §6.9: pointless on a half-closed (remote) stream)")
    func noneAfterTheClientsEnd() {
        var stream = H2StreamState(id: 1, phase: .halfClosedRemote, inbound: 0, outbound: 65_535)
        #expect(stream.increment(target: 65_535) == nil)
    }

    @Test("a window driven below zero goes back to the target, within the largest increment a frame carries (RFC 9113 §6.9.1)")
    func belowZero() {
        #expect(H2StreamState.increment(open: -1_000, target: 65_535) == 66_535)
        #expect(H2StreamState.increment(open: -10, target: Int(Int32.max)) == Int(Int32.max))
    }
}
