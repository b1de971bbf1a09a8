import LatchCore
import NIOCore
import NIOSSL
import NIOTLS

/// TLS toward one cluster's nodes: a client context built once per loaded configuration, and the
/// name each node is asked for and checked against.
struct UpstreamTLS: Sendable {
    let context: NIOSSLContext
    let serverName: String?

    static func load(_ config: UpstreamTLSConfig) throws(ConfigError) -> UpstreamTLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuites = TLSMaterial.cipherSuites
        tls.applicationProtocols = ["http/1.1"]
        if config.insecure {
            tls.certificateVerification = .none
        } else if let caFile = config.caFile {
            // NIOSSL says only `failedToLoadCertificate` for a file without certificates: say which.
            let authorities = (try? NIOSSLCertificate.fromPEMFile(caFile)) ?? []
            guard !authorities.isEmpty else {
                throw config.source.error("CA file \"\(caFile)\" holds no certificate (expected \"-----BEGIN CERTIFICATE-----\" blocks)")
            }
            tls.trustRoots = .certificates(authorities)
        }
        if let client = config.clientCertificate {
            let loaded = try CertificateLoader.load(client)
            tls.certificateChain = loaded.chain.map { .certificate($0) }
            tls.privateKey = .privateKey(loaded.key)
        }
        do {
            return UpstreamTLS(context: try NIOSSLContext(configuration: tls), serverName: config.serverName)
        } catch {
            throw config.source.error("cannot build the TLS context for the nodes: \(error)")
        }
    }

    /// SNI and the name checked for `node`: `server_name`, else the node's host name; `nil` for a node
    /// given by IP address, whose certificate is then checked for that address (SNI cannot carry one).
    func serverName(for node: HostPort) -> String? {
        if let serverName { return serverName }
        return (try? SocketAddress(ipAddress: node.host, port: 0)) == nil ? node.host : nil
    }

    /// The handlers that go first in a node connection's pipeline; `handshake` is completed when the
    /// handshake is done (or failed), so the connection is handed out only once it can carry a request.
    func makeHandlers(for node: HostPort, handshake: EventLoopPromise<Void>) throws -> [any ChannelHandler] {
        [try NIOSSLClientHandler(context: context, serverHostname: serverName(for: node)), TLSHandshakeGate(handshake)]
    }

    /// Every cluster's TLS of `config`, by cluster index.
    static func load(clustersOf config: LatchConfig) throws(ConfigError) -> [UpstreamTLS?] {
        var all: [UpstreamTLS?] = []
        for cluster in config.clusters {
            if let tls = cluster.tls { all.append(try load(tls)) } else { all.append(nil) }
        }
        return all
    }
}

/// Completes a promise when the TLS handshake after it in the pipeline has finished, fails it when
/// the handshake fails or the connection closes first, then leaves the pipeline.
final class TLSHandshakeGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private var promise: EventLoopPromise<Void>?

    init(_ promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            promise?.succeed()
            promise = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let promise {
            self.promise = nil
            promise.fail(error)
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(ChannelError.eof)
        promise = nil
        context.fireChannelInactive()
    }
}
