import NIOCore
import NIOHPACK
import Testing

@testable import LatchProxy

/// Hostile clients for the HTTP/2 state machine, generated from seeds: frames of every type with
/// random flags, stream ids, lengths and payloads, some of them bit-flipped, fed in random splits,
/// while Latch answers streams as a proxy would (heads, DATA within the windows, resets, reads of
/// the body). Whatever a client sends, the state machine must answer with events or a connection
/// error — never trap, never let Latch send beyond a window, never lose track of a stream.
@Suite("HTTP/2 state machine against generated clients")
struct H2ConnectionFuzzTests {
    /// The shared seeded generator (``SplitMix``), so a failing seed replays exactly.
    struct Generator {
        var random: SplitMix
        init(state: UInt64) { random = SplitMix(seed: state) }
        mutating func next() -> UInt64 { random.next() }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    /// A client's frame, mostly well-formed and about the streams it opened (so the run gets far
    /// into a connection's life), now and then anything at all.
    static func frame(_ g: inout Generator, encoder: inout HPACKEncoder, opened: inout [UInt32]) -> ByteBuffer {
        var out = ByteBuffer()
        func some() -> UInt32 {
            if g.chance(4) || opened.isEmpty { return UInt32(g.below(12)) }
            return opened[g.below(opened.count)]
        }
        switch opened.isEmpty ? 0 : g.below(16) {
        case 0, 1, 2, 3:
            var id = some()
            if opened.isEmpty || g.chance(75) {
                id = opened.last.map { $0 + 2 } ?? 1
                opened.append(id)
            }
            var fields: HPACKHeaders = [":method": g.chance(50) ? "GET" : "POST", ":scheme": "https", ":path": "/", ":authority": "a"]
            if g.chance(40) { fields.add(name: "content-length", value: String(g.below(40))) }
            if g.chance(20) { fields.add(name: "x-\(g.below(5))", value: String(repeating: "v", count: g.below(300))) }
            try? H2FrameWriter.headers(
                stream: id, fields, endStream: g.chance(50), maxFrameSize: g.chance(10) ? 100 : 16_384, encoder: &encoder, into: &out)
        case 4, 5, 6, 7:
            let size = g.chance(20) ? g.below(20_000) : g.below(40)
            H2FrameWriter.data(stream: some(), ByteBuffer(repeating: 7, count: size), endStream: g.chance(40), into: &out)
        case 8, 9:
            let increment = g.chance(2) ? Int(Int32.max) : 1 + g.below(70_000)
            H2FrameWriter.windowUpdate(stream: g.chance(50) ? 0 : some(), increment: increment, into: &out)
        case 10:
            H2FrameWriter.rstStream(stream: some(), code: H2ErrorCode(rawValue: UInt32(g.below(14))), into: &out)
        case 11:
            let parameter = UInt16(1 + g.below(8))
            let value = g.chance(5) ? UInt32(truncatingIfNeeded: g.next()) : UInt32(g.below(parameter == 5 ? 40_000 : 100_000))
            H2FrameWriter.settings([H2Setting(parameter: parameter, value: parameter == 5 ? max(value, 16_384) : value)], into: &out)
        case 12:
            H2FrameWriter.header(length: 5, type: H2FrameType.priority, flags: 0, stream: some(), into: &out)
            out.writeInteger(UInt32(g.below(12)))
            out.writeInteger(UInt8(16))
        case 13:
            H2FrameWriter.header(length: 8, type: H2FrameType.ping, flags: g.chance(20) ? H2Flags.ack : 0, stream: 0, into: &out)
            out.writeInteger(g.next())
        default:
            guard g.chance(25) else { return out }
            // A frame of any type, flags and length, its payload random.
            let length = g.chance(30) ? g.below(17_000) : g.below(12)
            H2FrameWriter.header(length: length, type: UInt8(g.below(12)), flags: UInt8(g.below(256)), stream: some(), into: &out)
            for _ in 0..<length { out.writeInteger(UInt8(truncatingIfNeeded: g.next())) }
        }
        if g.chance(2), out.readableBytes > 0 {
            let at = g.below(out.readableBytes)
            out.setInteger(out.getInteger(at: at, as: UInt8.self)! ^ UInt8(1 << g.below(8)), at: at)
        }
        return out
    }

    @Test("four hundred generated clients, each answered or cut off cleanly", arguments: 0..<4)
    func generated(batch: Int) {
        for seed in (batch * 100)..<((batch + 1) * 100) {
            var g = Generator(state: UInt64(seed))
            var machine = H2ConnectionStateMachine()
            var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
            var input = ByteBuffer(bytes: H2FrameReader.preface)
            H2FrameWriter.settings([], into: &input)
            var opened: [UInt32] = []
            for _ in 0..<(10 + g.below(60)) { input.writeImmutableBuffer(Self.frame(&g, encoder: &encoder, opened: &opened)) }
            var open: Set<UInt32> = []
            /// Streams whose answer Latch ended: nothing more is written on them.
            var answered: Set<UInt32> = []
            var now: UInt64 = 0
            run: while input.readableBytes > 0 {
                machine.read(input.readSlice(length: 1 + g.below(min(input.readableBytes, 3_000)))!)
                now += UInt64(g.below(1_000_000_000))
                do {
                    while let event = try machine.nextEvent(now: now) {
                        switch event {
                        case .request(let id, _, _):
                            #expect(!open.contains(id), "seed \(seed): stream \(id) opened twice")
                            open.insert(id)
                        case .closed(let id):
                            #expect(open.remove(id) != nil, "seed \(seed): stream \(id) closed, never opened")
                        case .data(let id, let bytes, _):
                            #expect(open.contains(id), "seed \(seed): DATA for stream \(id), not open")
                            if g.chance(70) { machine.taken(id, bytes.readableBytes) }
                        case .trailers(let id, _):
                            #expect(open.contains(id), "seed \(seed): trailers for stream \(id), not open")
                        case .windowsChanged, .goAway:
                            break
                        }
                    }
                } catch {
                    machine.fail(error)
                    #expect(!machine.hasOpenStreams)
                    break run
                }
                // Latch's side: answers within the windows, resets, GOAWAY now and then.
                for id in open.sorted() where g.chance(30) && !answered.contains(id) {
                    switch g.below(4) {
                    case 0:
                        let end = g.chance(30)
                        if end { answered.insert(id) }
                        if machine.writeHeaders(id, .fields([":status": "200"]), endStream: end) { open.remove(id) }
                    case 1:
                        let room = machine.sendable(id)
                        #expect(room >= 0)
                        let end = g.chance(40)
                        if end { answered.insert(id) }
                        if machine.writeData(id, ByteBuffer(repeating: 1, count: min(room, g.below(40_000))), endStream: end) {
                            open.remove(id)
                        }
                    case 2:
                        machine.reset(id, .cancel)
                        open.remove(id)
                    default:
                        if g.chance(10) { machine.goAway() }
                    }
                }
                #expect(Set(machine.streams.all.map(\.id)) == open, "seed \(seed): the state machine's streams and the events disagree")
            }
            // What Latch wrote is well-formed HTTP/2, every frame of it (within the frame size a
            // client reading it with the default settings accepts).
            guard machine.clientMaxFrameSize == H2FrameReader.maxFrameSize else { continue }
            var replies = H2FrameReader(maxHeaderBlock: 1 << 20)
            replies.append(ByteBuffer(bytes: H2FrameReader.preface))
            if let output = machine.takeOutput() { replies.append(output) }
            do {
                while try replies.next() != nil {}
            } catch {
                Issue.record("seed \(seed): Latch wrote a frame a client must refuse: \(error)")
            }
        }
    }
}
