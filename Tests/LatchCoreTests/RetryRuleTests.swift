import Testing

@testable import LatchCore

/// ``RetryRule`` as a table: every failure kind against what was already sent, kept and answered.
struct RetryRuleTests {
    static let rule = RetryRule(retries: 2, retryTimeout: .seconds(10))

    struct Row: Sendable, CustomTestStringConvertible {
        var label: String
        var attempt: RetryRule.Attempt
        var expected: RetryRule.Verdict
        var countsAgainstNode = true
        var testDescription: String { label }
    }

    static func attempt(_ failure: RetryRule.Failure, _ change: (inout RetryRule.Attempt) -> Void = { _ in }) -> RetryRule.Attempt {
        var attempt = RetryRule.Attempt(failure: failure)
        change(&attempt)
        return attempt
    }

    static let rows: [Row] = [
        // The node never saw the request: anything goes elsewhere.
        Row(label: "connect failed, GET", attempt: attempt(.connectFailed), expected: .anotherNode),
        Row(label: "connect failed, POST with a body not kept", attempt: attempt(.connectFailed) {
            $0.idempotent = false; $0.hasNoBody = false; $0.bodyKept = false
        }, expected: .anotherNode),
        // A pooled connection the node had closed: once more to the same node, not its fault.
        Row(label: "stale pooled connection, GET", attempt: attempt(.connectionLost) { $0.reusedConnection = true; $0.wroteRequest = true },
            expected: .sameNodeFreshConnection, countsAgainstNode: false),
        Row(label: "stale pooled connection, broke after the head was written", attempt: attempt(.lostMidResponse) {
            $0.reusedConnection = true; $0.wroteRequest = true
        }, expected: .sameNodeFreshConnection, countsAgainstNode: false),
        Row(label: "stale pooled connection, second time: another node", attempt: attempt(.connectionLost) {
            $0.reusedConnection = true; $0.wroteRequest = true; $0.retriedOnFreshConnection = true
        }, expected: .anotherNode, countsAgainstNode: false),
        Row(label: "stale pooled connection, POST written: not re-sent, not the node's fault", attempt: attempt(.connectionLost) {
            $0.reusedConnection = true; $0.wroteRequest = true; $0.idempotent = false; $0.hasNoBody = false; $0.bodyKept = false
        }, expected: .fail, countsAgainstNode: false),
        Row(label: "stale pooled connection, PUT with a kept body: elsewhere, not the same connection", attempt: attempt(.connectionLost) {
            $0.reusedConnection = true; $0.wroteRequest = true; $0.hasNoBody = false
        }, expected: .anotherNode, countsAgainstNode: false),
        // A fresh connection lost: the node's fault; idempotent requests with their body go elsewhere.
        Row(label: "lost before the response, GET", attempt: attempt(.connectionLost) { $0.wroteRequest = true }, expected: .anotherNode),
        Row(label: "lost before anything was written, POST", attempt: attempt(.connectionLost) { $0.idempotent = false }, expected: .anotherNode),
        Row(label: "lost after a POST was written", attempt: attempt(.connectionLost) {
            $0.wroteRequest = true; $0.idempotent = false; $0.hasNoBody = false
        }, expected: .fail),
        Row(label: "lost after a PUT whose body outgrew retry_body_limit", attempt: attempt(.connectionLost) {
            $0.wroteRequest = true; $0.hasNoBody = false; $0.bodyKept = false
        }, expected: .fail),
        // After the response began, or on a slow node: no retry.
        Row(label: "broke mid-response", attempt: attempt(.lostMidResponse) { $0.wroteRequest = true; $0.responseHeadReceived = true; $0.responseStarted = true },
            expected: .fail),
        Row(label: "a head arrived, not yet sent on", attempt: attempt(.connectionLost) { $0.wroteRequest = true; $0.responseHeadReceived = true },
            expected: .fail),
        Row(label: "stale connection, but the head arrived", attempt: attempt(.connectionLost) {
            $0.reusedConnection = true; $0.wroteRequest = true; $0.responseHeadReceived = true
        }, expected: .fail),
        Row(label: "timeout", attempt: attempt(.timeout) { $0.wroteRequest = true }, expected: .fail),
        Row(label: "the client's own failure", attempt: attempt(.other), expected: .fail),
        // Within retries and retry_timeout only.
        Row(label: "retries used up", attempt: attempt(.connectFailed) { $0.nodesTried = 2 }, expected: .fail),
        Row(label: "one retry left", attempt: attempt(.connectFailed) { $0.nodesTried = 1 }, expected: .anotherNode),
        Row(label: "retry_timeout passed", attempt: attempt(.connectFailed) { $0.elapsed = .seconds(10) }, expected: .fail),
        Row(label: "stale connection past retry_timeout still gets its one fresh connection", attempt: attempt(.connectionLost) {
            $0.reusedConnection = true; $0.wroteRequest = true; $0.elapsed = .seconds(30)
        }, expected: .sameNodeFreshConnection, countsAgainstNode: false),
    ]

    @Test(arguments: rows)
    func verdicts(row: Row) {
        #expect(Self.rule.verdict(row.attempt) == row.expected)
        #expect(Self.rule.countsAgainstNode(row.attempt) == row.countsAgainstNode)
    }

    @Test func noRetriesMeansNoOtherNode() {
        let none = RetryRule(retries: 0, retryTimeout: .seconds(10))
        #expect(none.verdict(Self.attempt(.connectFailed)) == .fail)
        #expect(none.verdict(Self.attempt(.connectionLost) { $0.reusedConnection = true }) == .sameNodeFreshConnection)
    }

    @Test func readsTheFailoverKeys() {
        #expect(RetryRule(FailoverConfig(retries: 4, retryTimeout: .seconds(3))) == RetryRule(retries: 4, retryTimeout: .seconds(3)))
    }
}
