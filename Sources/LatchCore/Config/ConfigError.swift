/// Why `lb.yaml` could not be turned into a `LatchConfig`, and exactly where.
///
/// Operators fix configuration from the error alone, so every error names the file, the position
/// (when there is one: a file that cannot be read has none) and the key path of the offending value,
/// in the `file:line:column:` form that editors and terminals turn into links.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The path as given to the loader, or the name passed to `ConfigLoader.parse(yaml:file:)`.
    public var file: String
    /// 1-based line, `nil` when the problem is the file as a whole.
    public var line: Int?
    /// 1-based column, counted in Unicode scalars as libyaml does.
    public var column: Int?
    /// Where in the document, e.g. `clusters[0].nodes[1].replicas[0]`; `""` for whole-file problems.
    public var keyPath: String
    /// What is wrong and, where it helps, what would be right.
    public var message: String
    /// Further errors found in the same file, in its order (``all``); the description is this one's.
    public var more: [ConfigError] = []

    /// This error and every further one found, for `latch check` to list them all.
    public var all: [ConfigError] {
        var first = self
        first.more = []
        return [first] + more
    }

    /// Every error on one line, `; `-separated, for a log line or an API answer.
    public var everyError: String {
        all.map(\.description).joined(separator: "; ")
    }

    public init(file: String, line: Int? = nil, column: Int? = nil, keyPath: String = "", message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    /// `lb.yaml:12:7: clusters[0].nodes[1].replicas[0]: unknown node "tomcat9" in cluster "shop" (nodes: tomcat1, tomcat2)`
    public var description: String {
        var location = file
        if let line {
            location += ":\(line)"
            if let column {
                location += ":\(column)"
            }
        }
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}
