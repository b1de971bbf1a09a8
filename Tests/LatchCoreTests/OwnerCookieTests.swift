import Testing

@testable import LatchCore

struct OwnerCookieTests {
    @Test func valueNamesTheNodeAndIsBoundToTheSessionID() {
        let value = OwnerCookie.value(node: "tomcat2", sessionID: "ABC.tomcat1")
        #expect(value.hasPrefix("tomcat2~"))
        #expect(value.count == "tomcat2~".count + 16)
        #expect(OwnerCookie.owner(in: value, sessionID: "ABC.tomcat1") == "tomcat2")
        #expect(OwnerCookie.owner(in: value, sessionID: "NEW.tomcat1") == nil, "a new session id voids it")
        #expect(OwnerCookie.owner(in: "tomcat2", sessionID: "ABC.tomcat1") == nil)
        #expect(OwnerCookie.owner(in: "~" + value.split(separator: "~")[1], sessionID: "ABC.tomcat1") == nil)
        // Node names may contain "~"; the tag is after the last one.
        let odd = OwnerCookie.value(node: "a~b", sessionID: "X.a~b")
        #expect(OwnerCookie.owner(in: odd, sessionID: "X.a~b") == "a~b")
    }

    @Test func findsTheCookieAcrossHeaderLines() {
        #expect(OwnerCookie.find("LATCH_NODE", in: ["a=1; JSESSIONID=x.t1", "LATCH_NODE=t2~00; b=2"]) == "t2~00")
        #expect(OwnerCookie.find("LATCH_NODE", in: ["XLATCH_NODE=t2~00", "LATCH_NODEX=1"]) == nil)
        #expect(OwnerCookie.find("LATCH_NODE", in: [String]()) == nil)
    }

    @Test func extractorReturnsTheSessionIDBehindAKnownRoute() {
        let extractor = RouteExtractor(session: SessionConfig(), nodeNames: ["t1", "t2"])
        let found = extractor.lookupWithSessionID(target: "/", cookieHeaders: ["JSESSIONID=OLD.gone; JSESSIONID=\"ID.t2\""])
        #expect(found.lookup == .known(node: 1, source: .cookie))
        #expect(found.sessionID == "ID.t2")
        #expect(extractor.lookupWithSessionID(target: "/", cookieHeaders: ["JSESSIONID=ID.gone"]).sessionID == nil)
    }

    @Test func ownerComesFirstWhileUsable() {
        var balancer = Balancer(algorithm: .roundRobin, weights: [1, 1, 1])
        var random = SplitMix64(seed: 3)
        func decide(up: [Bool]) -> NodeDecision {
            NodeChooser.choose(
                .known(node: 0, source: .cookie), owner: 1, usable: { up[$0] }, replicas: { _ in [2] },
                balancer: &balancer, active: { _ in 0 }, using: &random
            )
        }
        #expect(decide(up: [true, true, true]) == NodeDecision(node: 1, reason: .stayed))
        #expect(decide(up: [true, false, true]) == NodeDecision(node: 2, reason: .failoverReplica), "owner gone: its replica holds the state")
        #expect(decide(up: [true, false, false]) == NodeDecision(node: 0, reason: .sticky), "owner and its replicas gone: the route's node")
        #expect(decide(up: [false, false, true]) == NodeDecision(node: 2, reason: .failoverReplica))
    }
}
