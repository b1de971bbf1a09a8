import ArgumentParser
import LatchCore
import LatchProxy
import Logging

@main
struct LatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latch",
        abstract: "Latch: a sticky-session HTTP load balancer for application servers that mark session ids with their node name.",
        version: "latch \(LatchVersion.current)",
        subcommands: [
            RunCommand.self, CheckCommand.self, RouteCommand.self, ReloadCommand.self, StatusCommand.self, StateCommand.self, DemoCommand.self,
        ]
    )
}

/// `--config`, shared by the commands that read lb.yaml.
struct ConfigOption: ParsableArguments {
    @Option(name: [.short, .long], help: "Path of the configuration file. (default: lb.yaml)")
    var config: String?

    @Argument(help: "Path of the configuration file, as an alternative to --config.")
    var file: String?

    /// `latch check lb.yaml` and `latch check --config lb.yaml` mean the same.
    var path: String { file ?? config ?? "lb.yaml" }

    /// Two files would silently be one of them: refused.
    func validate() throws {
        if let file, let config {
            throw ValidationError("the configuration file is given twice ('\(file)' and --config '\(config)'): give one")
        }
    }

    /// Loads the file and the TLS certificates it names, or prints the one-line error and exits
    /// non-zero: never a stack trace. Warnings (a certificate about to expire) go to stderr.
    func load() throws -> LatchConfig {
        do {
            let config = try ConfigLoader.load(path: path)
            for warning in try TLSCheck.verify(config) { printError("warning: \(warning)") }
            return config
        } catch {
            // Every error found, one per line, so one run of `latch check` shows all there is to fix.
            for each in error.all { printError("error: \(each.description)") }
            if !error.more.isEmpty { printError("\(error.all.count) errors in \(error.file)") }
            throw ExitCode(2)
        }
    }
}

func printError(_ message: String) {
    var stderr = StandardError()
    print(message, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleOutput.writeStderr(string)
    }
}
