import ArgumentParser
import Foundation
import LatchCore
import LatchProxy

/// One running Latch as a command reaches it through its admin API: where to connect, and where it
/// was named — lb.yaml or an `--admin` URL — so that an error can say what to fix.
struct AdminTarget: Sendable {
    /// The admin address as the operator wrote it (`0.0.0.0:9090` in lb.yaml, `lb1:9090` in a URL).
    var named: HostPort
    /// Where to connect: `named`, a wildcard host reached through loopback.
    var address: HostPort
    /// The lb.yaml that named it; `nil` for `--admin`.
    var configPath: String?
    /// The file the token is read from, if any: `--token-file`, else lb.yaml's `admin.token_file`.
    var tokenFile: String?

    /// `http://127.0.0.1:9090`: how output names the instance.
    var url: String { "http://\(address)" }

    /// The admin listener lb.yaml configures.
    init(admin: AdminConfig, configPath: String, tokenFile: String? = nil) {
        named = admin.address
        var host = admin.address.host
        if host == "0.0.0.0" { host = "127.0.0.1" } else if host == "::" { host = "::1" }
        address = HostPort(host: host, port: admin.address.port)
        self.configPath = configPath
        self.tokenFile = tokenFile ?? admin.tokenFile
    }

    /// An `--admin` URL's listener.
    init(url: String, tokenFile: String?) throws {
        named = try Self.address(url: url)
        address = named
        configPath = nil
        self.tokenFile = tokenFile
    }

    /// `http://HOST:PORT`, `http://[::1]:PORT/` or a bare `HOST:PORT`. The admin listener has no TLS and
    /// serves from its root, so another scheme or a path is refused; so is a URL without a port, which
    /// would otherwise mean port 80 where the admin listener's default is 9090.
    static func address(url text: String) throws(ValidationError) -> HostPort {
        var rest = Substring(text)
        if let scheme = text.range(of: "://") {
            guard text[..<scheme.lowerBound].lowercased() == "http" else {
                throw ValidationError("--admin \(text): only http:// URLs; the admin listener has no TLS")
            }
            rest = text[scheme.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.contains("/") {
            throw ValidationError("--admin \(text): give the admin listener as http://HOST:PORT, without a path")
        }
        switch HostPortParser.parseExplaining(String(rest)) {
        case .failure(let problem) where problem.reason.hasPrefix("missing port"):
            throw ValidationError("--admin \(text): give the port too, e.g. http://127.0.0.1:9090")
        case .failure(let problem):
            throw ValidationError("--admin \(text): \(problem.reason)")
        case .success(let address) where address.port == 0:
            throw ValidationError("--admin \(text): port 0 is not a port a Latch listens on")
        case .success(let address):
            return address
        }
    }

    /// The request did not reach a Latch: why, in words.
    func unreachable(_ error: any Error) -> String {
        guard isConnectionRefused(error) else {
            return "cannot reach the admin API at \(named): \(describeNetworkError(error))"
        }
        if let configPath {
            return "no Latch is listening at \(named), the admin address \(configPath) names (connection refused); is it running, with this file?"
        }
        return "no Latch is listening at \(named) (connection refused)"
    }

    /// A 401: whose token was refused, or that none was sent.
    var unauthorized: String {
        let hint: String
        if let tokenFile {
            hint = "\(tokenFile) does not hold the running Latch's token"
        } else if let configPath {
            hint = "\(configPath) names no admin.token_file"
        } else {
            hint = "give its admin token with --token-file"
        }
        return "the running Latch refused the request (401 Unauthorized): \(hint)"
    }

    /// Any other answer that is not the one asked for.
    func answered(_ answer: AdminClient.Answer) -> String {
        "the admin API at \(named) answered \(answer.status.code) \(answer.status.reasonPhrase): \(answer.said)"
    }

    /// The token in `path`, without surrounding whitespace. A file that cannot be read or holds no
    /// token is refused by name before anything is sent (exit 2).
    static func token(from path: String) throws -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            printError("error: cannot read the token file \(path): \(ConfigLoader.osReason(error))")
            throw ExitCode(2)
        }
        guard !text.isEmpty else {
            printError("error: the token file \(path) is empty")
            throw ExitCode(2)
        }
        return text
    }

    /// `body` for every instance at once; the results in the order the instances were given.
    static func each<T: Sendable>(_ targets: [AdminTarget], _ body: @escaping @Sendable (AdminTarget) async -> T) async -> [T] {
        await withTaskGroup(of: (Int, T).self) { group in
            for (index, target) in targets.enumerated() {
                group.addTask { (index, await body(target)) }
            }
            var results: [(Int, T)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}

/// Why one Latch of a fleet could not do what was asked, in words.
struct AdminFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}

extension AdminClient.Answer {
    /// The answer as a JSON object, if it is one.
    var object: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
    }

    /// What it says in words: its `message` or `error`, else the body as it came.
    var said: String {
        let text = object?["message"] as? String ?? object?["error"] as? String ?? body
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Which running Latch instances a command talks to: the one lb.yaml's `admin:` block names (as
/// `latch reload` does), or every `--admin` URL given — a fleet.
struct AdminTargetOptions: ParsableArguments {
    @OptionGroup var configuration: ConfigOption

    @Option(
        name: .customLong("admin"),
        help: ArgumentHelp(
            "A Latch's admin listener, http://HOST:PORT (repeat for every Latch of a fleet); instead of the configuration file.",
            valueName: "url"))
    var urls: [String] = []

    func validate() throws {
        if !urls.isEmpty, let file = configuration.file ?? configuration.config {
            throw ValidationError("give the configuration file ('\(file)') or --admin, not both")
        }
        for url in urls { _ = try AdminTarget.address(url: url) }
    }

    /// The instances, in the order given. Without `--admin`, lb.yaml is read and checked (as by
    /// `latch check`, exit 2 when broken) for its admin block; one without is exit 1.
    func targets(command: String, tokenFile: String? = nil) throws -> [AdminTarget] {
        if !urls.isEmpty { return try urls.map { try AdminTarget(url: $0, tokenFile: tokenFile) } }
        let path = configuration.path
        guard let admin = try configuration.load().admin else {
            printError("error: latch \(command) talks to the admin API, and \(path) has no `admin:` block; add one, or give --admin URL")
            throw ExitCode.failure
        }
        guard admin.address.port != 0 else {
            printError("error: the admin address in \(path) is \(admin.address), a port chosen at start; give the one the running Latch logged (`admin listening`) with --admin")
            throw ExitCode.failure
        }
        return [AdminTarget(admin: admin, configPath: path, tokenFile: tokenFile)]
    }
}
