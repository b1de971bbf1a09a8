import Testing
@testable import LatchCore

/// One read of a broken lb.yaml reports every independent error it can find (`latch check`), each
/// located, and none that only follows from another.
struct ConfigEveryErrorTests {
    static let broken = """
        listen:
          - address: 0.0.0.0:8080
          - address: 0.0.0.0:99999
          - address: 0.0.0.0:8080
        timeouts:
          connect: 5 parsecs
        threads: 0
        logging: debug
        clusters:
          - name: shop
            balance: fastest
            nodes:
              - { name: tomcat1, address: 10.0.0.11:8080, weight: 5000 }
              - { nmae: tomcat2, address: 10.0.0.12:8080 }
              - { name: tomcat3, address: 10.0.0.13:8080, replicas: [tomcat2] }
          - name: api
            nodes:
              - { name: api1, address: 10.0.1.11:8080, replicas: [api9] }
          - name: shop
            nodes:
              - { name: x1, address: 10.0.2.11:8080 }

        """

    @Test func everyErrorIsReported() throws {
        var caught: ConfigError?
        do {
            _ = try ConfigLoader.parse(yaml: Self.broken, file: "lb.yaml")
        } catch {
            caught = error
        }
        let error = try #require(caught)
        let lines = error.all.map(\.description)
        #expect(lines == [
            "lb.yaml:8:1: logging: unknown key `logging`; expected one of: listen, clusters, timeouts, pool, forwarding, threads, limits, admin, state_file, shutdown_grace, access_log, control_socket",
            "lb.yaml:3:14: listen[1].address: invalid address \"0.0.0.0:99999\": port 99999 is out of range 0...65535",
            "lb.yaml:4:14: listen[2].address: address 0.0.0.0:8080 is already used by listen[0]",
            "lb.yaml:11:14: clusters[0].balance: unknown balance algorithm \"fastest\" (allowed: round_robin, least_connections, random_two)",
            "lb.yaml:13:59: clusters[0].nodes[0].weight: weight 5000 is out of range 1...1000",
            "lb.yaml:14:11: clusters[0].nodes[1].nmae: unknown key `nmae`; did you mean `name`?",
            "lb.yaml:18:59: clusters[1].nodes[0].replicas[0]: unknown node \"api9\" in cluster \"api\" (nodes: api1)",
            "lb.yaml:19:11: clusters[2].name: duplicate cluster name \"shop\" (already used by clusters[0] at line 10)",
            "lb.yaml:6:12: timeouts.connect: invalid duration \"5 parsecs\"; \(DurationParser.acceptedForms)",
            "lb.yaml:7:10: threads: must be at least 1, found 0; leave it out for one thread per core",
        ], "\(lines.joined(separator: "\n"))")
        // The description is the first error's, as before.
        #expect(error.description == lines[0])
        // The replica naming tomcat2, whose entry did not read, is not reported as unknown.
        #expect(!lines.contains { $0.contains("unknown node \"tomcat2\"") })
    }
}
