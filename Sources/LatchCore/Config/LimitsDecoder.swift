/// Walks `limits:`, the caps that keep one client (or many) from making Latch hold unbounded memory,
/// file descriptors or node capacity.
enum LimitsDecoder {
    static let keys = ["max_request_head", "max_headers", "max_uri_length", "max_body", "max_client_connections"]

    /// Below 1 KiB a browser's ordinary cookies would not fit; above 1 MiB a head is an attack.
    static let requestHeadSizes = 1024...(1024 * 1024)
    static let headerCounts = 1...10_000
    static let uriLengths = 64...(1024 * 1024)
    /// 0 refuses every request body; the top is only there to keep arithmetic away from overflow.
    static let bodySizes = 0...(1 << 50)
    static let clientConnections = 1...10_000_000
    static let nodeKeys = ["max_connections", "max_queue", "queue_timeout"]
    static let nodeConnections = 0...1_000_000
    static let queueLengths = 0...1_000_000

    static func limits(_ node: ConfigNode) throws(ConfigError) -> LimitsConfig {
        let mapping = try node.mapping(allowedKeys: keys)
        var limits = LimitsConfig()
        if let value = mapping.value("max_request_head") {
            limits.maxRequestHead = try value.byteSize(in: requestHeadSizes, what: "max_request_head")
        }
        if let value = mapping.value("max_headers") {
            limits.maxHeaders = try value.int(in: headerCounts, what: "max_headers")
        }
        if let value = mapping.value("max_uri_length") {
            limits.maxURILength = try value.byteSize(in: uriLengths, what: "max_uri_length")
        }
        if let value = mapping.value("max_body") {
            limits.maxBody = try value.byteSize(in: bodySizes, what: "max_body")
        }
        if let value = mapping.value("max_client_connections") {
            limits.maxClientConnections = try value.int(in: clientConnections, what: "max_client_connections")
        }
        // The target counts toward the head, so a longer target limit could never be reached.
        if limits.maxURILength > limits.maxRequestHead {
            let at = mapping.value("max_uri_length") ?? mapping.value("max_request_head") ?? node
            throw at.error("max_uri_length (\(ByteSizeParser.format(limits.maxURILength))) is larger than "
                + "max_request_head (\(ByteSizeParser.format(limits.maxRequestHead))), which the target counts toward")
        }
        return limits
    }

    /// A cluster's `limits:`.
    static func nodeLimits(_ node: ConfigNode) throws(ConfigError) -> NodeLimitsConfig {
        let mapping = try node.mapping(allowedKeys: nodeKeys)
        var limits = NodeLimitsConfig()
        if let value = mapping.value("max_connections") { limits.maxConnections = try maxConnections(value) }
        if let value = mapping.value("max_queue") {
            limits.maxQueue = try value.int(in: queueLengths, what: "max_queue")
        }
        if let value = mapping.value("queue_timeout") { limits.queueTimeout = try value.duration() }
        return limits
    }

    /// A cluster's or a node's `max_connections`; 0 is no limit.
    static func maxConnections(_ node: ConfigNode) throws(ConfigError) -> Int {
        try node.int(in: nodeConnections, what: "max_connections")
    }
}
