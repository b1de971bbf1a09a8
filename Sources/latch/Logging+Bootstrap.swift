import ArgumentParser
import Foundation
import Logging

enum LatchLogging {
    /// Access lines (`latch.access`) go to standard output, everything else to standard error, so
    /// `latch run > access.log` separates them. `LOG_LEVEL` (trace, debug, info, notice, warning,
    /// error, critical) sets the level; the default is `info`.
    /// A `LOG_LEVEL` that names no level is refused (exit 2), not taken as `info`: the operator who set
    /// it wants something else than what they would silently get.
    static func bootstrap() throws {
        let level: Logger.Level
        if let name = ProcessInfo.processInfo.environment["LOG_LEVEL"], !name.isEmpty {
            guard let named = Logger.Level(rawValue: name.lowercased()) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                printError("error: LOG_LEVEL=\(name) is not a log level; use one of \(levels)")
                throw ExitCode(2)
            }
            level = named
        } else {
            level = .info
        }
        LoggingSystem.bootstrap { label in
            var handler = label == "latch.access"
                ? StreamLogHandler.standardOutput(label: label)
                : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
