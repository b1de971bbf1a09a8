import ArgumentParser
import Foundation
import LatchCore

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Set a node active, draining or maintenance on a running Latch, or on every Latch of a fleet.",
        discussion: """
            Example: latch state shop/tomcat1 draining --admin http://10.0.0.5:9090 --admin http://10.0.0.6:9090
            Calls POST /api/nodes/CLUSTER/NODE/state on the admin address lb.yaml names, or on each --admin \
            URL (all at once), with the bearer token from --token-file, else from lb.yaml's \
            admin.token_file. Prints a line per Latch in the order given and exits 1 if any of them \
            failed; the others are still changed.
            """
    )

    @Argument(help: ArgumentHelp("The node, as its cluster and its name: shop/tomcat1.", valueName: "cluster/node"))
    var node: String

    @Argument(help: ArgumentHelp("active, draining or maintenance.", valueName: "state"))
    var state: String

    @OptionGroup var targets: AdminTargetOptions

    @Option(help: ArgumentHelp("A file holding the admin token (instead of lb.yaml's admin.token_file).", valueName: "file"))
    var tokenFile: String?

    func validate() throws {
        guard NodeState(rawValue: state) != nil else {
            throw ValidationError("unknown state '\(state)': use active, draining or maintenance")
        }
        _ = try Self.split(node)
    }

    /// `shop/tomcat1` as its cluster and node.
    static func split(_ text: String) throws(ValidationError) -> (cluster: String, node: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValidationError("'\(text)' does not name a node: write its cluster and name as CLUSTER/NODE, e.g. shop/tomcat1")
        }
        return (String(parts[0]), String(parts[1]))
    }

    func run() async throws {
        let targets = try targets.targets(command: "state", tokenFile: tokenFile)
        let token = try targets.first?.tokenFile.map(AdminTarget.token(from:))
        let (cluster, name) = try Self.split(node)
        // Each name is one path segment: "/" and the like percent-encoded (the admin API decodes them).
        var segment = CharacterSet.urlPathAllowed
        segment.remove(charactersIn: "/")
        let path = "/api/nodes/\(cluster.addingPercentEncoding(withAllowedCharacters: segment) ?? cluster)/"
            + "\(name.addingPercentEncoding(withAllowedCharacters: segment) ?? name)/state"
        let body = "{\"state\":\"\(state)\"}"
        let results = await AdminTarget.each(targets) { target in
            await Self.change(target, path: path, token: token, body: body)
        }
        for (target, result) in zip(targets, results) {
            switch result {
            case .success(let change): print("\(target.url): \(cluster)/\(name) \(change)")
            case .failure(let failure): printError("error: \(target.url): \(failure)")
            }
        }
        if results.contains(where: { if case .failure = $0 { true } else { false } }) { throw ExitCode.failure }
    }

    /// "active → draining", or why the state was not set.
    static func change(_ target: AdminTarget, path: String, token: String?, body: String) async -> Result<String, AdminFailure> {
        let answer: AdminClient.Answer
        do {
            answer = try await AdminClient.send(.POST, path, to: target.address, token: token, json: body)
        } catch {
            return .failure(AdminFailure(target.unreachable(error)))
        }
        switch answer.status.code {
        case 200:
            guard let state = answer.object?["state"] as? String else { return .failure(AdminFailure(target.answered(answer))) }
            let previous = answer.object?["previous"] as? String ?? "?"
            return .success(previous == state ? "already \(state)" : "\(previous) → \(state)")
        case 401:
            return .failure(AdminFailure(target.unauthorized))
        case 404 where answer.object?["error"] is String:
            // The API's own words: no node "tomcat9" in cluster "shop".
            return .failure(AdminFailure(answer.said))
        default:
            return .failure(AdminFailure(target.answered(answer)))
        }
    }
}
