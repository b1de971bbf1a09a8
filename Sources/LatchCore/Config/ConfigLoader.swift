import Foundation
import Yams

/// Turns `lb.yaml` (schema v1) into a validated `LatchConfig`.
///
/// The file is composed into a YAML node tree and walked by hand rather than decoded with `Codable`:
/// only the tree keeps each value's line and column, and only a hand walk can say which key was
/// misspelt, what type was expected, and which node name a `replicas` entry failed to find.
public enum ConfigLoader {
    /// Reads and validates the file. Throws `ConfigError`.
    /// `-` and `/dev/stdin` read standard input (`latch check - < lb.yaml`), named `<stdin>` in errors.
    public static func load(path: String) throws(ConfigError) -> LatchConfig {
        if path == "-" || path == "/dev/stdin" {
            return try parse(yaml: readStandardInput(), file: "<stdin>")
        }
        return try parse(yaml: readText(path: path), file: path)
    }

    /// Standard input read from the descriptor Latch already holds. Opening `/dev/stdin` again fails
    /// where the descriptor cannot be reopened (a socket, a terminal of another user: "Permission denied").
    private static func readStandardInput() throws(ConfigError) -> String {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: "<stdin>", message: "standard input is not valid UTF-8 text")
        }
        return text
    }

    /// Parses text; `file` is only used in error messages.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> LatchConfig {
        if let found = ComplexKeyCheck.firstComplexKey(in: yaml) {
            throw ConfigError(
                file: file,
                line: found.line,
                column: found.column,
                message: "\(found.what) is not allowed in lb.yaml; write every key as plain text"
            )
        }
        let root: Yams.Node?
        do {
            // An explicit encoding: `.default` consults (and prints about) an environment variable.
            root = try Yams.compose(yaml: yaml, .default, .default, .utf8)
        } catch {
            throw ConfigError(composing: error, yaml: yaml, file: file)
        }
        guard let root else {
            throw ConfigError(file: file, message: "the file is empty; it needs at least `listen` and `clusters`")
        }
        return try ConfigDecoder.decode(ConfigNode(node: root, path: "", file: file))
    }

    /// The file as UTF-8 text, or an error carrying the operating system's reason.
    private static func readText(path: String) throws(ConfigError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(file: path, message: "cannot read the file: \(osReason(error))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "the file is not valid UTF-8 text")
        }
        return text
    }

    /// Foundation wraps the `errno` of the failed call; its `strerror` text ("No such file or
    /// directory", "Permission denied") is what an operator recognises, on every platform alike.
    /// Also used for the files the configuration names (`token_file`, the `state_file` directory).
    public static func osReason(_ error: any Error) -> String {
        let nsError = error as NSError
        // On Linux the underlying error is a Swift `Error`, not an `NSError`, until bridged.
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? any Error,
           (underlying as NSError).domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32((underlying as NSError).code)))
        }
        if nsError.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(nsError.code)))
        }
        return nsError.localizedDescription
    }
}
