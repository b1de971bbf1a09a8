import LatchCore
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LatchProxy

/// ``HTTP1RequestParser`` on its own (table rows, every split of the bytes) and side by side with the
/// parser it replaced, NIOHTTP1's llhttp in strict mode, on the same bytes: hand-written requests,
/// the smuggling classics and thousands of mutations of them must give the same parts, or both an error.
@Suite("HTTP1RequestParser")
struct HTTP1RequestParserTests {
    static let limits = HTTP1RequestParser.Limits(maxHead: 1024, maxFields: 20)

    /// What a parser made of some bytes, in a form two parsers can be compared by.
    struct Outcome: Equatable, CustomStringConvertible {
        var parts: [String] = []
        var failed: HTTPParserError?
        /// ``RequestValidator`` refused a head: what reaches an exchange stops there.
        var refused: String?

        var description: String {
            parts.joined(separator: " | ") + (failed.map { " ! \($0)" } ?? "") + (refused.map { " refused: \($0)" } ?? "")
        }

        /// Refused by the parser or by the validator behind it: the client gets an error either way.
        var isError: Bool { failed != nil || refused != nil }

        mutating func add(_ part: HTTPServerRequestPart, validating: Bool) {
            guard refused == nil else { return }
            switch part {
            case .head(var head):
                // RFC 9112 §5: whitespace around a value is not part of it (NIOHTTP1 keeps the
                // trailing one, so `Host: x ` failed the validator behind it).
                head.headers = HTTPHeaders(head.headers.map { ($0.name, String($0.value.trimmingCharacters(in: " \t"))) })
                if validating {
                    // As an HTTP/2 head reaches the validator: NIOHTTP1's form read as Latch reads fields.
                    guard let read = try? ClientRequestHead(head) else {
                        refused = "fields Latch's reader refuses"
                        return
                    }
                    if let rejection = RequestValidator.validate(read, limits: LimitsConfig()) {
                        refused = rejection.message
                        return
                    }
                }
                let fields = head.headers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
                parts.append("head \(head.method.rawValue) \(head.uri) \(head.version) [\(fields)]")
            case .body(let buffer):
                // Body slices may be cut anywhere: join neighbouring ones.
                let text = String(buffer: buffer)
                if let last = parts.last, last.hasPrefix("body ") {
                    parts[parts.count - 1] = last + text
                } else {
                    parts.append("body " + text)
                }
            case .end(let trailers):
                parts.append("end" + (trailers.map { " [" + $0.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "]" } ?? ""))
            }
        }
    }

    /// Runs a decoder on `chunks`, one channel read each, then the end of input.
    static func run<Decoder: ByteToMessageDecoder>(
        _ decoder: Decoder, _ chunks: [[UInt8]], validating: Bool = false, endInput: Bool = true
    ) -> Outcome {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
        var outcome = Outcome()
        func drain() throws {
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { outcome.add(part, validating: validating) }
        }
        do {
            for chunk in chunks {
                try channel.writeInbound(channel.allocator.buffer(bytes: chunk))
                try drain()
            }
            guard endInput else { return outcome }
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            try channel.throwIfErrorCaught()
            try drain()
        } catch let error as HTTPParserError {
            try? drain()
            outcome.failed = error
        } catch {
            outcome.failed = .unknown
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return outcome
    }

    /// The parser on `chunks`, one read each, as ``ProxyHandler`` runs it: every part the bytes hold
    /// after each read, then the end of input.
    static func latch(_ chunks: [[UInt8]], validating: Bool = false, endInput: Bool = true) -> Outcome {
        var parser = HTTP1RequestParser(limits: limits)
        var outcome = Outcome()
        var buffer = ByteBuffer()
        do {
            for chunk in chunks {
                buffer.writeBytes(chunk)
                while let part = try parser.next(&buffer) { outcome.add(part.nio, validating: validating) }
            }
            if endInput, parser.isInMessage(buffered: buffer.readableBytes) { throw HTTPParserError.invalidEOFState }
        } catch {
            outcome.failed = error as? HTTPParserError ?? .unknown
        }
        return outcome
    }

    static func llhttp(_ chunks: [[UInt8]]) -> Outcome {
        var config = NIOHTTPDecoderLimitConfiguration()
        config.maxHeaderFieldSize = limits.maxHead
        config.maxHeaderListSize = limits.maxHead
        config.maxHeaderFieldCount = limits.maxFields
        return run(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: config), chunks, validating: true)
    }

    // MARK: - Rows

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var raw: String
        var parts: [String]
        var error: HTTPParserError?
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "GET", raw: "GET /a?b=c HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=1.n1\r\n\r\n",
            parts: ["head GET /a?b=c HTTP/1.1 [Host=x,Cookie=JSESSIONID=1.n1]", "end"]),
        Row(name: "HTTP/1.0, no fields", raw: "GET / HTTP/1.0\r\n\r\n", parts: ["head GET / HTTP/1.0 []", "end"]),
        Row(name: "empty lines before the request line are skipped", raw: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            parts: ["head GET / HTTP/1.1 [Host=x]", "end"]),
        Row(name: "whitespace around a value is not part of it", raw: "GET / HTTP/1.1\r\nHost: \t x \t\r\nA:\r\n\r\n",
            parts: ["head GET / HTTP/1.1 [Host=x,A=]", "end"]),
        Row(name: "Content-Length body", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            parts: ["head POST / HTTP/1.1 [Host=x,Content-Length=5]", "body hello", "end"]),
        Row(name: "chunked body with extension and trailer",
            raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n3 ;c\r\n!!!\r\n0\r\nT: 1\r\n\r\n",
            parts: ["head POST / HTTP/1.1 [Host=x,Transfer-Encoding=chunked]", "body hello!!!", "end [T=1]"]),
        Row(name: "pipelined requests", raw: "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
            parts: ["head GET /1 HTTP/1.1 [Host=x]", "end", "head GET /2 HTTP/1.1 [Host=x]", "end"]),
        Row(name: "methods beyond llhttp's list", raw: "PURGE_ALL / HTTP/1.1\r\nHost: x\r\n\r\nM-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n",
            parts: ["head PURGE_ALL / HTTP/1.1 [Host=x]", "end", "head M-SEARCH * HTTP/1.1 [Host=x]", "end"]),
        Row(name: "a lower-case method", raw: "get / HTTP/1.1\r\nHost: x\r\n\r\n", parts: [], error: .invalidMethod),
        Row(name: "a chunk of 2^63 bytes is a chunk", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\nab",
            parts: ["head POST / HTTP/1.1 [Host=x,Transfer-Encoding=chunked]", "body ab"], error: .invalidEOFState),
        Row(name: "a chunk of 2^64 bytes is not", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nab",
            parts: ["head POST / HTTP/1.1 [Host=x,Transfer-Encoding=chunked]"], error: .invalidChunkSize),
        Row(name: "bytes after an upgrade request are not parsed",
            raw: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\u{1}\u{2}garbage",
            parts: ["head GET /ws HTTP/1.1 [Host=x,Connection=Upgrade,Upgrade=websocket]", "end"]),
        Row(name: "bytes after a request that closes the connection",
            raw: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n",
            parts: ["head GET / HTTP/1.1 [Host=x,Connection=close]", "end"], error: .closedConnection),
        Row(name: "HTTP/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
            parts: ["head GET / HTTP/1.0 [Connection=keep-alive]", "end", "head GET /2 HTTP/1.0 []", "end"]),
        Row(name: "a TLS handshake on the plain port is refused at its first bytes", raw: "\u{16}\u{3}\u{1}\u{2}\u{0}",
            parts: [], error: .invalidMethod),
        Row(name: "bare LF", raw: "GET / HTTP/1.1\nHost: x\n\n", parts: [], error: .lfExpected),
        Row(name: "bare CR", raw: "GET / HTTP/1.1\r\nHost: x\rY: 1\r\n\r\n", parts: [], error: .lfExpected),
        Row(name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", parts: [], error: .invalidHeaderToken),
        Row(name: "space before the colon", raw: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", parts: [], error: .invalidHeaderToken),
        Row(name: "NUL in a value", raw: "GET / HTTP/1.1\r\nHost: x\u{0}y\r\n\r\n", parts: [], error: .invalidHeaderToken),
        Row(name: "DEL after two visible words of a value", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: abcdefghijklmnop\u{7F}q\r\n\r\n",
            parts: [], error: .invalidHeaderToken),
        Row(name: "a control character in the last bytes of a value", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: abcdefghij\u{1}\r\n\r\n",
            parts: [], error: .invalidHeaderToken),
        Row(name: "long values with blanks between visible runs",
            raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: abcdefghij klmnopqrs\tuvwxyz0123456789ABCDEFGH  \r\nX-B: 12345678\r\n\r\n",
            parts: ["head GET / HTTP/1.1 [Host=x,X-A=abcdefghij klmnopqrs\tuvwxyz0123456789ABCDEFGH,X-B=12345678]", "end"]),
        Row(name: "HTTP/1.2", raw: "GET / HTTP/1.2\r\nHost: x\r\n\r\n", parts: [], error: .invalidVersion),
        Row(name: "two spaces in the request line", raw: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", parts: [], error: .invalidURL),
        Row(name: "CL and TE", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            parts: [], error: .unexpectedContentLength),
        Row(name: "two Content-Lengths", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab",
            parts: [], error: .invalidContentLength),
        Row(name: "Content-Length +1", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", parts: [], error: .invalidContentLength),
        Row(name: "chunked not final", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", parts: [], error: .unknown),
        Row(name: "chunk size 0x5", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
            parts: ["head POST / HTTP/1.1 [Host=x,Transfer-Encoding=chunked]"], error: .invalidChunkSize),
        Row(name: "chunk data longer than its size",
            raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            parts: ["head POST / HTTP/1.1 [Host=x,Transfer-Encoding=chunked]", "body ab"], error: .invalidChunkSize),
        Row(name: "a head over the limit", raw: "GET / HTTP/1.1\r\nHost: x\r\nA: " + String(repeating: "a", count: 1100) + "\r\n\r\n",
            parts: [], error: .headerOverflow),
        Row(name: "an unfinished head over the limit on the wire", raw: "GET / HTTP/1.1\r\nHost: x\r\nA: " + String(repeating: "a", count: 1500),
            parts: [], error: .headerOverflow),
        Row(name: "too many fields", raw: "GET / HTTP/1.1\r\n" + String(repeating: "A: 1\r\n", count: 21) + "\r\n",
            parts: [], error: .headerOverflow),
        Row(name: "the connection ends mid-head", raw: "GET / HTTP/1.1\r\nHo", parts: [], error: .invalidEOFState),
        Row(name: "the connection ends mid-body", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel",
            parts: ["head POST / HTTP/1.1 [Host=x,Content-Length=5]", "body hel"], error: .invalidEOFState),
    ]

    @Test("eight bytes at a time: a word passes exactly when each of its bytes is visible or obs-text")
    func wordsOfVisibleBytes() {
        func reference(_ word: UInt64) -> Bool {
            (0..<8).allSatisfy { index in
                let byte = UInt8(truncatingIfNeeded: word >> (8 * UInt64(index)))
                return byte > 0x20 && byte != 0x7F
            }
        }
        // Every byte value at every position among visible neighbours, and among obs-text ones.
        for word in Self.testWords(fillers: [UInt8(ascii: "a"), 0x21, 0x7E, 0x80, 0xFF]) {
            #expect(HeadCursor.allVisible(word) == reference(word), "word \(String(word, radix: 16))")
        }
    }

    /// Each byte value at each of a word's eight positions among copies of each filler, then random words.
    static func testWords(fillers: [UInt8]) -> [UInt64] {
        var words: [UInt64] = []
        for filler in fillers {
            for position in 0..<8 {
                for byte in UInt8.min...UInt8.max {
                    var word: UInt64 = 0
                    for index in 0..<8 { word |= UInt64(index == position ? byte : filler) << (8 * UInt64(index)) }
                    words.append(word)
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { words.append(UInt64.random(in: .min ... .max, using: &generator)) }
        return words
    }

    @Test("eight name bytes at a time: a byte's high bit is set exactly when it is a letter, digit or '-'")
    func wordsOfNameBytes() {
        func isAlphanumericOrDash(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
        }
        func reference(_ word: UInt64) -> UInt64 {
            (0..<8).reduce(0) { mask, index in
                isAlphanumericOrDash(UInt8(truncatingIfNeeded: word >> (8 * UInt64(index)))) ? mask | 0x80 << (8 * UInt64(index)) : mask
            }
        }
        // Among neighbours that pass and that do not: a borrow or carry between bytes would show there.
        let fillers: [UInt8] = [UInt8(ascii: "a"), UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "0"), 0x00, 0x7F, 0x80, 0xFF, UInt8(ascii: ":")]
        for word in Self.testWords(fillers: fillers) {
            #expect(HeadCursor.alphanumericOrDash(word) == reference(word), "word \(String(word, radix: 16))")
        }
    }

    @Test("a name is scanned to its first non-tchar byte, whatever its length and bytes")
    func tokenScanMatchesTheByteRule() {
        let bytes: [UInt8] = Array("!#$%&'*+-.^_`|~09azAZ".utf8) + [0x00, 0x09, 0x20, 0x22, 0x2C, 0x2F, 0x3A, 0x40, 0x5B, 0x7F, 0x80, 0xFF]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...24, using: &generator)
            let line = (0..<length).map { _ in
                Bool.random(using: &generator) ? UInt8(ascii: "x") : bytes.randomElement(using: &generator)!
            }
            let expected = line.firstIndex { !HTTPSyntax.isTokenByte($0) } ?? line.count
            line.withUnsafeBytes { raw in
                var cursor = HeadCursor(raw)
                #expect(cursor.scanToken() == expected, "\(line)")
                #expect(cursor.position == expected)
            }
        }
    }

    @Test("tchar is exactly RFC 9110's list")
    func tokenBytes() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPSyntax.isTokenByte(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }

    @Test("a head keeps a small read's bytes, and copies its own out of a large one")
    func headBytesOfLargeReadsAreCopied() throws {
        let raw = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        for capacity in [512, 64 * 1024] {
            var buffer = ByteBufferAllocator().buffer(capacity: capacity)
            buffer.writeString(raw)
            var parser = HTTP1RequestParser(limits: Self.limits)
            guard case .head(let head) = try parser.next(&buffer) else {
                Issue.record("no head")
                return
            }
            let kept = head.fields.bytes.storageCapacity
            if capacity > HTTP1RequestParser.largestSharedRead {
                #expect(kept < 1024, "a copy of the head alone")
            } else {
                #expect(kept == buffer.storageCapacity, "the read's own storage")
            }
            #expect(head.first(.host) == "x" && head.framing.contentLength == 3)
            #expect(head.fields.headers.map(\.name) == ["Host", "Content-Length"])
        }
    }

    @Test("parses", arguments: rows)
    func parses(_ row: Row) {
        let bytes = Array(row.raw.utf8)
        let expected = Outcome(parts: row.parts, failed: row.error)
        #expect(Self.latch([bytes]) == expected)
        if row.error == nil {
            // Every part as soon as its bytes are in, not when the input ends.
            #expect(Self.latch([bytes], endInput: false) == expected)
        }
        // The same, however the bytes are split into reads.
        for split in 1..<bytes.count {
            let outcome = Self.latch([Array(bytes[..<split]), Array(bytes[split...])])
            #expect(outcome == expected, "split at \(split)")
            if outcome != expected { break }
        }
        #expect(Self.latch(bytes.map { [$0] }) == expected, "byte by byte")
    }

    // MARK: - Side by side with llhttp

    /// Seeds for the comparison: ordinary requests and the framing tricks request smuggling is made of.
    static let seeds: [String] = [
        "GET /a?b=c HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=1.n1\r\nAccept: */*\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: y\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\n",
        "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
        "DELETE /x HTTP/1.1\r\nHost: x\r\nX-A: a, b\t\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\nxyz",
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nA;q=\"a b\"\r\n0123456789\r\n1\r\nz\r\n0\r\n\r\n",
        "PATCH /x;jsessionid=AB.n2?q=1 HTTP/1.1\r\nHost: x:8080\r\nUser-Agent: t/1.0 (x; y)\r\nContent-Length: 2\r\n\r\n{}",
    ]

    /// Where the two parsers rightly disagree, so a mutation that lands there is not compared (table
    /// rows above pin Latch's side):
    /// - Latch takes any method of upper-case letters, `-` and `_` (as nginx); llhttp knows a fixed list;
    /// - Latch takes exactly one space between a request line's parts (RFC 9112 §3); llhttp lets
    ///   several stand before the version;
    /// - chunk extensions follow RFC 9112 §7.1.1 for Latch; llhttp takes some malformed ones (`;=x`,
    ///   `;a;=b`) and refuses the grammar's whitespace around `=`;
    /// - whitespace at the end of a value is not part of it for Latch (RFC 9112 §5); llhttp keeps it,
    ///   and refuses it after `Content-Length` and `Transfer-Encoding`;
    /// - empty elements of a `Transfer-Encoding` list are skipped by Latch (RFC 9110 §5.6.1).
    static func comparable(_ llhttp: Outcome, _ bytes: [UInt8]) -> Bool {
        if llhttp.failed == .invalidMethod { return false }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        if lines.contains(where: { $0.contains(" HTTP/") && $0.contains("  ") }) { return false }
        return !ParserDivergence.chunkExtension(text) && !ParserDivergence.trailingWhitespace(text)
            && !ParserDivergence.emptyTransferCoding(lines)
    }

    @Test("gives what llhttp gives on the seeds, whole and byte by byte")
    func agreesOnSeeds() {
        for seed in Self.seeds {
            let bytes = Array(seed.utf8)
            let reference = Self.llhttp([bytes])
            guard Self.comparable(reference, bytes) else { continue }
            let whole = Self.latch([bytes], validating: true)
            #expect(Self.agree(whole, reference), "\(seed.debugDescription): \(whole) vs \(reference)")
            let split = Self.latch(bytes.map { [$0] }, validating: true)
            #expect(Self.agree(split, reference), "byte by byte: \(seed.debugDescription): \(split) vs \(reference)")
        }
    }

    @Test("gives what llhttp gives on 6000 mutations of the seeds")
    func agreesOnMutations() {
        // LATCH_PARSER_SEED=n runs 100 000 mutations from another seed, for a deeper search by hand.
        let seed = ProcessInfo.processInfo.environment["LATCH_PARSER_SEED"].flatMap { UInt64($0) }
        var random = SplitMix(seed: seed ?? 0x1A7C4)
        let alphabet = Array(" \t\r\n:;,=-0123456789abcdefxABCDEF\u{0}\u{7F}\u{80}/?".utf8)
        var disagreements: [String] = []
        var compared = 0
        var refused = 0
        for round in 0..<(seed == nil ? 6000 : 100_000) {
            var bytes = Array(Self.seeds[round % Self.seeds.count].utf8)
            for _ in 0..<(1 + Int(random.next() % 2)) {
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: at)
                case 1: bytes.remove(at: at)
                case 2: bytes[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                default: bytes[at] = bytes[at] ^ 0x20
                }
            }
            let reference = Self.llhttp([bytes])
            guard Self.comparable(reference, bytes) else { continue }
            compared += 1
            if reference.isError { refused += 1 }
            let split = 1 + Int(random.next() % UInt64(max(1, bytes.count - 1)))
            let ours = Self.latch([Array(bytes[..<min(split, bytes.count)]), Array(bytes[min(split, bytes.count)...])], validating: true)
            if !Self.agree(ours, reference) {
                disagreements.append("\(String(decoding: bytes, as: UTF8.self).debugDescription)\n  latch:  \(ours)\n  llhttp: \(reference)")
            }
        }
        // The mutations must exercise both sides of the parser's rules to mean anything.
        #expect(compared > 3500 && refused > 1000 && compared - refused > 800, "\(compared) compared, \(refused) refused")
        let report = "\(disagreements.count) disagreements:\n" + disagreements.prefix(12).joined(separator: "\n")
        #expect(disagreements.isEmpty, Comment(rawValue: report))
    }

    /// Both parsers, each with ``RequestValidator`` behind it, pass the same parts and end in an error
    /// on both sides or neither (which error may differ: the answer is a 400 or 431 either way). On an
    /// error Latch may have passed on fewer parts (it refuses a head whose framing is wrong before
    /// anyone sees it, where llhttp hands the head on first), never more.
    static func agree(_ ours: Outcome, _ reference: Outcome) -> Bool {
        guard ours.isError == reference.isError else { return false }
        if ours.isError { return reference.parts.starts(with: ours.parts) }
        return ours.parts == reference.parts
    }
}
