import Foundation
import Logging

enum LatchLogging {
    /// Access lines (`latch.access`) go to standard output, everything else to standard error, so
    /// `latch run > access.log` separates them. `LOG_LEVEL` (trace, debug, info, notice, warning,
    /// error, critical) sets the level; the default is `info`.
    static func bootstrap() {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        LoggingSystem.bootstrap { label in
            var handler = label == "latch.access"
                ? StreamLogHandler.standardOutput(label: label)
                : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
