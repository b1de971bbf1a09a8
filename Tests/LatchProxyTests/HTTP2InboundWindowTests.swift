import Testing

@testable import LatchProxy

/// The receiving side of HTTP/2 flow control (RFC 9113 §6.9), with no I/O: when a WINDOW_UPDATE is
/// due, and that held bytes keep their share of the window shut until they are taken.
@Suite("HTTP/2 inbound window")
struct HTTP2InboundWindowTests {
    enum Step {
        case reported(Int)
        case hold(Int)
        case taken(Int)
    }

    /// Each row: steps, and the increment each one returns.
    static let rows: [(String, [Step], [Int?])] = [
        ("nothing is due before swift-nio-http2 has reported the window", [.hold(1000), .taken(1000)], [nil, nil]),
        ("a window still over half open is left alone", [.reported(40_000)], [nil]),
        ("at half or below, back to the full target in one frame", [.reported(32_767)], [32_768]),
        ("a window at zero is reopened by the whole target", [.reported(0)], [65_535]),
        (
            "held bytes count as open until the reader takes them",
            [.hold(60_000), .reported(5_535), .taken(30_000), .taken(30_000)],
            [nil, nil, nil, 60_000]
        ),
        (
            "a window driven below zero goes back to the target",
            [.reported(-1_000)], [66_535]
        ),
        (
            "after an update the report of the reopened window asks for nothing more",
            [.reported(0), .reported(65_535)], [65_535, nil]
        ),
    ]

    @Test("increments", arguments: rows.indices)
    func increments(_ row: Int) {
        let (name, steps, expected) = Self.rows[row]
        var window = HTTP2InboundWindow(target: 65_535)
        let got: [Int?] = steps.map { step in
            switch step {
            case .reported(let size): return window.reported(size)
            case .hold(let size):
                window.hold(size)
                return nil
            case .taken(let size): return window.taken(size)
            }
        }
        #expect(got == expected, "\(name)")
    }

    @Test("the largest increment a frame can carry bounds a reopening (RFC 9113 §6.9.1)")
    func incrementFitsAFrame() {
        var window = HTTP2InboundWindow(target: Int(Int32.max))
        #expect(window.reported(-10) == Int(Int32.max))
    }
}
