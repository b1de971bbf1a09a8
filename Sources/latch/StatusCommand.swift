import ArgumentParser
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the clusters and nodes of a running Latch, or of every Latch of a fleet.",
        discussion: """
            Reads GET /api/status from the admin address lb.yaml names, or from each --admin URL (all at \
            once; printed in the order given). Per node: its effective state (with the operator's, \
            "op:", when the node announces a stricter one), health (unchecked without health checks), \
            whether it may serve, sessions, requests in flight, requests per second over the last \
            10 seconds, failures, and how long it has been in its state (or down). Exits 1 if any \
            Latch could not be read; the others are still shown.
            """
    )

    @OptionGroup var targets: AdminTargetOptions

    @Flag(help: "Print the JSON of /api/status; with several --admin, an array of {\"admin\", \"status\"} or {\"admin\", \"error\"}.")
    var json = false

    /// One instance's answer: its document as sent and as read, or what went wrong, in words.
    typealias Fetched = Result<(body: String, status: StatusView), AdminFailure>

    func run() async throws {
        let targets = try targets.targets(command: "status")
        let results = await AdminTarget.each(targets, Self.fetch)
        if json {
            for (target, result) in zip(targets, results) {
                if case .failure(let failure) = result { printError("error: \(target.url): \(failure)") }
            }
            printJSON(targets: targets, results: results)
        } else {
            // In the order given, a blank line between instances; an error in its place, on stderr.
            for (index, (target, result)) in zip(targets, results).enumerated() {
                switch result {
                case .success(let fetched):
                    print((index == 0 ? "" : "\n") + StatusReport.lines(fetched.status, url: target.url).joined(separator: "\n"))
                case .failure(let failure):
                    printError("error: \(target.url): \(failure)")
                }
            }
        }
        if results.contains(where: { if case .failure = $0 { true } else { false } }) { throw ExitCode.failure }
    }

    @Sendable static func fetch(_ target: AdminTarget) async -> Fetched {
        let answer: AdminClient.Answer
        do {
            answer = try await AdminClient.send(.GET, "/api/status", to: target.address)
        } catch {
            return .failure(AdminFailure(target.unreachable(error)))
        }
        guard answer.status.code == 200 else { return .failure(AdminFailure(target.answered(answer))) }
        do {
            return .success((answer.body, try StatusView.decode(answer.body)))
        } catch {
            return .failure(AdminFailure("the answer from \(target.named) is not a Latch status document"))
        }
    }

    /// One Latch: its document as it sent it. Several: an array in the order given.
    func printJSON(targets: [AdminTarget], results: [Fetched]) {
        if targets.count == 1 {
            if case .success(let fetched) = results[0] { print(fetched.body.hasSuffix("\n") ? String(fetched.body.dropLast()) : fetched.body) }
            return
        }
        let array: [[String: Any]] = zip(targets, results).map { target, result in
            switch result {
            case .success(let fetched):
                ["admin": target.url, "status": (try? JSONSerialization.jsonObject(with: Data(fetched.body.utf8))) ?? [:]]
            case .failure(let failure):
                ["admin": target.url, "error": failure.description]
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: array, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    }
}
