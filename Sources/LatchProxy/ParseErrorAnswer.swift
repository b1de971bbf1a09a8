import NIOHTTP1

/// What a client gets when ``HTTP1RequestParser`` refuses its bytes: 431 for a head
/// over `limits.max_request_head` or `limits.max_headers` (RFC 6585 §5), 400 for everything else, with
/// a short text naming the fault so a developer can see what to fix. Pure.
struct ParseErrorAnswer: Equatable {
    var status: HTTPResponseStatus
    var message: String
    /// False when there is no one to answer: the client ended the connection mid-request.
    var answers: Bool
    /// The `reason` label of `latch_requests_refused_total`.
    var metricReason: String

    /// A malformed HTTP/2 request head (RFC 9113 §8.1.1), in its own words.
    init(_ malformed: HTTP2MalformedRequest) {
        status = .badRequest
        message = malformed.message
        answers = true
        metricReason = "malformed"
    }

    init(_ error: HTTPParserError) {
        answers = true
        metricReason = "malformed"
        status = .badRequest
        switch error {
        case .headerOverflow:
            status = .requestHeaderFieldsTooLarge
            message = "the request head has too many or too large header fields"
            metricReason = "head_too_large"
        case .invalidEOFState:
            message = "the connection ended in the middle of the request"
            answers = false
        case .invalidMethod:
            message = "invalid request method"
        case .invalidURL, .invalidCharactersUsed:
            message = "invalid characters in the request target or header fields"
        case .invalidVersion:
            message = "unsupported HTTP version"
        case .invalidHeaderToken:
            message = "an invalid header field"
        case .invalidContentLength, .unexpectedContentLength:
            message = "an invalid or conflicting Content-Length"
        case .invalidChunkSize:
            message = "an invalid chunk in the request body"
        case .lfExpected:
            message = "malformed line endings"
        default:
            message = "malformed request"
        }
    }
}

extension RequestRejection {
    /// The `reason` label of `latch_requests_refused_total`.
    var metricReason: String {
        switch status {
        case .uriTooLong: "uri_too_long"
        case .payloadTooLarge: "body_too_large"
        case .notImplemented: "not_implemented"
        default: "malformed"
        }
    }
}
