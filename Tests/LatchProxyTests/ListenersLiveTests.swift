import LatchCore
import NIOCore
import Testing

@Suite("Several listeners", .timeLimit(.minutes(1)))
struct ListenersLiveTests {
    @Test("every listener serves the same clusters, on IPv4 and IPv6 loopback")
    func severalListeners() async throws {
        try await withLatch(configure: { config in
            config.listeners = [
                ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0)),
                ListenerConfig(address: HostPort(host: "127.0.0.1", port: 0)),
                ListenerConfig(address: HostPort(host: "::1", port: 0)),
            ]
        }) { h in
            let addresses = h.server.boundAddresses
            #expect(addresses.count == 3)
            for address in addresses {
                let host = address.protocol == .inet6 ? "[::1]" : "127.0.0.1"
                let answer = try await h.get(cookie: "JSESSIONID=L.tomcat3", url: "http://\(host):\(address.port!)")
                #expect(answer.node == "tomcat3", "\(address)")
            }
            #expect(h.backend("tomcat3").requests.count == 3)
        }
    }
}
