import NIOCore
import NIOHTTP1

@testable import LatchProxy

extension NodeResponseHead {
    /// The head as NIOHTTP1 would have delivered it (compared with llhttp, read with `HTTPHeaders`).
    var nio: HTTPResponseHead {
        HTTPResponseHead(version: version, status: status, headers: fields.headers)
    }

    /// A node's head as ``HTTP1ResponseParser`` reads it from `headers` written out after the status line.
    static func parsed(
        _ status: HTTPResponseStatus = .ok, version: HTTPVersion = .http1_1, _ headers: [(String, String)] = []
    ) throws -> NodeResponseHead {
        var bytes = ByteBuffer(string: "HTTP/1.\(version.minor) \(status.code) \(status.reasonPhrase)\r\n")
        for (name, value) in headers { bytes.writeString("\(name): \(value)\r\n") }
        bytes.writeString("\r\n")
        var parser = HTTP1ResponseParser()
        parser.requestSent(method: .GET)
        guard case .head(let head) = try parser.next(&bytes) else { throw HTTPParserError.invalidEOFState }
        return head
    }
}

extension NodeResponsePart {
    /// The part as NIOHTTP1 would have delivered it.
    var nio: HTTPClientResponsePart {
        switch self {
        case .head(let head): .head(head.nio)
        case .body(let bytes): .body(bytes)
        case .end(let trailers): .end(trailers)
        }
    }
}

extension ClientRequestHead {
    /// A request head as the HTTP/1 parser would hand it over, from NIOHTTP1's form.
    static func test(
        _ method: HTTPMethod = .GET, _ uri: String = "/", version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:]
    ) -> ClientRequestHead {
        do {
            return try ClientRequestHead(HTTPRequestHead(version: version, method: method, uri: uri, headers: headers))
        } catch {
            fatalError("a test head its own reader refused: \(error)")
        }
    }

    /// The head in NIOHTTP1's form (compared with llhttp, read with `HTTPHeaders`).
    var nio: HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: target, headers: fields.headers)
    }
}

extension ClientRequestPart {
    /// The part as NIOHTTP1 would have delivered it.
    var nio: HTTPServerRequestPart {
        switch self {
        case .head(let head): .head(head.nio)
        case .body(let bytes): .body(bytes)
        case .end(let trailers): .end(trailers)
        }
    }
}
