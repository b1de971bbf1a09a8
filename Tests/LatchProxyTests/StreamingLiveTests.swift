import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Testing

/// Bodies far larger than any buffer, through a live Latch: they must arrive intact and Latch must
/// not hold them in memory.
@Suite("Streaming bodies through a live Latch", .serialized, .timeLimit(.minutes(5)))
struct StreamingLiveTests {
    static let size = 256 * 1024 * 1024
    /// Generous for noise from tests running beside this one; buffering a body would cost ≥ 256 MiB.
    static let allowedGrowth = 96 * 1024 * 1024

    @Test("a 256 MiB upload arrives intact and memory stays flat")
    func largeUpload() async throws {
        let expected = PatternBody.expectedChecksum(total: Self.size)
        // Over the 100 MiB default of `limits.max_body`, which an operator raises for uploads like this.
        try await withLatch(configure: { $0.limits.maxBody = 1 << 30 }, reply: { _, _ in .echoBodyChecksum }) { h in
            let before = ProcessMemory.residentBytes()
            ProcessMemory.resetPeak()
            var request = HTTPClientRequest(url: h.baseURL + "/upload")
            request.method = .PUT
            request.headers.add(name: "Cookie", value: "JSESSIONID=UP.tomcat2")
            request.body = .stream(PatternBody(total: Self.size), length: .known(Int64(Self.size)))
            let response = try await h.client.execute(request, timeout: .minutes(4))
            let body = String(buffer: try await response.body.collect(upTo: 1024))
            let growth = ProcessMemory.peakBytes() - before
            #expect(response.status == .ok)
            #expect(body == "bytes=\(Self.size) checksum=\(expected)")
            #expect(h.backend("tomcat2").requests.first?.head.headers["content-length"] == [String(Self.size)])
            #expect(growth < Self.allowedGrowth, "peak RSS grew by \(growth / 1_048_576) MiB")
        }
    }

    @Test("a 256 MiB download arrives intact and memory stays flat")
    func largeDownload() async throws {
        let expected = PatternBody.expectedChecksum(total: Self.size)
        try await withLatch(reply: { _, _ in .download(bytes: Self.size, chunked: false) }) { h in
            let before = ProcessMemory.residentBytes()
            ProcessMemory.resetPeak()
            let response = try await h.client.execute(HTTPClientRequest(url: h.baseURL + "/download"), timeout: .minutes(4))
            #expect(response.headers["content-length"] == [String(Self.size)])
            var sum = StreamChecksum()
            for try await chunk in response.body {
                sum.update(chunk)
            }
            let growth = ProcessMemory.peakBytes() - before
            #expect(sum.count == Self.size)
            #expect(sum.final == expected)
            #expect(growth < Self.allowedGrowth, "peak RSS grew by \(growth / 1_048_576) MiB")
        }
    }

    @Test("chunked request and response bodies are relayed as chunked")
    func chunkedBothWays() async throws {
        let size = 3 * 1024 * 1024 + 17
        let expected = PatternBody.expectedChecksum(total: size)
        try await withLatch(reply: { _, head in
            head.method == .POST ? .echoBodyChecksum : .download(bytes: size, chunked: true)
        }) { h in
            var upload = HTTPClientRequest(url: h.baseURL + "/chunked")
            upload.method = .POST
            upload.body = .stream(PatternBody(total: size, chunkSize: 10_000), length: .unknown)
            let uploaded = try await h.client.execute(upload, timeout: .seconds(60))
            #expect(String(buffer: try await uploaded.body.collect(upTo: 1024)) == "bytes=\(size) checksum=\(expected)")
            let seen = try #require(h.backends.flatMap(\.requests).first { $0.head.method == .POST })
            #expect(seen.head.headers["transfer-encoding"] == ["chunked"])
            #expect(seen.head.headers["content-length"].isEmpty)

            let downloaded = try await h.client.execute(HTTPClientRequest(url: h.baseURL + "/chunked"), timeout: .seconds(60))
            #expect(downloaded.headers["transfer-encoding"] == ["chunked"])
            var sum = StreamChecksum()
            for try await chunk in downloaded.body { sum.update(chunk) }
            #expect(sum.final == expected)
        }
    }
}
