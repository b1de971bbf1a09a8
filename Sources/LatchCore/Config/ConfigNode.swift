import Yams

/// A YAML node together with its key path and file, so every check can build an error pointing at it.
///
/// The typed accessors (`string()`, `int()`, `list()`, …) are the only way the decoder reads values,
/// which keeps "expected X, found Y" wording and positions uniform across the whole schema.
struct ConfigNode {
    let node: Yams.Node
    /// `clusters[0].nodes[1]`; `""` for the document root.
    let path: String
    let file: String
    /// The errors found so far in the whole file (shared by every node of it).
    var problems = ConfigProblems()

    func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: node.mark?.line, column: node.mark?.column, keyPath: path, message: message)
    }

    func child(_ key: String, _ node: Yams.Node) -> ConfigNode {
        ConfigNode(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file, problems: problems)
    }

    /// Runs `body`, a part of the file that stands on its own (a top-level block, a listener, a
    /// cluster, a node…); an error it throws is noted and `nil` returned, so the rest is still read
    /// and `latch check` reports every error it can find, not only the first.
    func recovering<T>(_ body: () throws(ConfigError) -> T) -> T? {
        do {
            return try body()
        } catch {
            problems.note(error)
            return nil
        }
    }

    /// The resolved YAML type (`str`, `int`, `null`, …); quoting makes any scalar a `str`.
    private var tagName: Yams.Tag.Name {
        Yams.Tag.Name(rawValue: node.tag.rawValue)
    }

    /// `null`, `~` or nothing at all after the colon.
    var isNull: Bool {
        if case .scalar = node { return tagName == .null }
        return false
    }

    /// "a list", "an integer (3)", … for "expected …, found …" messages.
    var kind: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            switch tagName {
            case .null: return "an empty value"
            case .bool: return "a boolean (\(scalar.string))"
            case .int: return "an integer (\(scalar.string))"
            case .float: return "a number (\(scalar.string))"
            default: return "a string (\"\(scalar.string)\")"
            }
        }
    }

    // MARK: Typed accessors

    /// The scalar's text as written. Any non-null scalar is accepted, so `name: 1` is the node "1"
    /// and `via: 1.1` stays "1.1" rather than becoming a number.
    func string() throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected a string, found \(kind)")
        }
        return scalar.string
    }

    func int() throws(ConfigError) -> Int {
        guard tagName == .int else {
            throw error("expected an integer, found \(kind)")
        }
        guard let value = node.int else {
            throw error("integer \(node.scalar?.string ?? "") is too large")
        }
        return value
    }

    /// `true` or `false` as YAML resolves them (so also `yes`/`no`, `on`/`off`); a quoted `"false"`
    /// is a string and is rejected, like any other non-boolean.
    func bool() throws(ConfigError) -> Bool {
        guard tagName == .bool, let value = node.bool else {
            throw error("expected true or false, found \(kind)")
        }
        return value
    }

    /// Elements with their paths; an empty value counts as an empty list, so `listen:` with
    /// nothing under it gets the "no listeners" error rather than a type error.
    func list() throws(ConfigError) -> [ConfigNode] {
        if isNull { return [] }
        guard case .sequence(let sequence) = node else {
            throw error("expected a list, found \(kind)")
        }
        return sequence.enumerated().map { index, element in
            ConfigNode(node: element, path: "\(path)[\(index)]", file: file, problems: problems)
        }
    }

    /// This node as a mapping whose keys must all be in `allowedKeys`.
    func mapping(allowedKeys: [String]) throws(ConfigError) -> ConfigMapping {
        try ConfigMapping(self, allowedKeys: allowedKeys)
    }

    func duration() throws(ConfigError) -> Duration {
        let text = try string()
        guard let value = DurationParser.parse(text) else {
            throw error("invalid duration \"\(text)\"; \(DurationParser.acceptedForms)")
        }
        guard value > .zero else {
            throw error("duration must be greater than 0, found \"\(text)\"")
        }
        return value
    }

    /// An integer within `range`, in the words of the other range errors: "rise 0 is out of range 1...100".
    func int(in range: ClosedRange<Int>, what: String) throws(ConfigError) -> Int {
        let value = try int()
        guard range.contains(value) else {
            throw error("\(what) \(value) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A YAML integer (bytes) or a size with a unit (`64KiB`), within `range`.
    func byteSize(in range: ClosedRange<Int>, what: String) throws(ConfigError) -> Int {
        let text = try string()
        let bytes: Int
        if let integer = try? int() {
            bytes = integer
        } else {
            switch ByteSizeParser.parseExplaining(text) {
            case .success(let value):
                bytes = value
            case .failure(.form):
                throw error("invalid size \"\(text)\"; \(ByteSizeParser.acceptedForms)")
            case .failure(.unknownUnit(let unit)):
                var message = "unknown size unit \"\(unit)\" in \"\(text)\""
                if let guess = ByteSizeParser.suggestion(for: unit) {
                    message += "; did you mean \"\(guess)\"?"
                }
                let allowed = ByteSizeParser.units.reversed().map(\.suffix)
                throw error(message + " (allowed: \(allowed.joined(separator: ", ")))")
            case .failure(.tooLarge):
                bytes = .max
            }
        }
        guard range.contains(bytes) else {
            let lower = range.lowerBound == 0 ? "0" : ByteSizeParser.format(range.lowerBound)
            throw error("\(what) \(text) is out of range \(lower)...\(ByteSizeParser.format(range.upperBound))")
        }
        return bytes
    }

    func hostPort() throws(ConfigError) -> HostPort {
        let text = try string()
        switch HostPortParser.parseExplaining(text) {
        case .success(let address): return address
        case .failure(let problem): throw error("invalid address \"\(text)\": \(problem.reason)")
        }
    }

    /// One of an enum's raw values; a near miss gets a suggestion, and the allowed values are listed.
    func oneOf<Value: RawRepresentable & CaseIterable>(_: Value.Type, what: String) throws(ConfigError) -> Value
    where Value.RawValue == String {
        let text = try string()
        if let value = Value(rawValue: text) { return value }
        let allowed = Value.allCases.map(\.rawValue)
        var message = "unknown \(what) \"\(text)\""
        if let guess = Spelling.suggestion(for: text, among: allowed) {
            message += "; did you mean \"\(guess)\"?"
        }
        throw error(message + " (allowed: \(allowed.joined(separator: ", ")))")
    }
}

/// A mapping whose keys have been checked against the schema: each is a known key, given once.
struct ConfigMapping {
    let owner: ConfigNode
    private let values: [String: ConfigNode]
    /// The first key not in the schema, already noted: a required key that is missing is most likely
    /// that one misspelt, so its absence is not reported again.
    private var unknownKey: ConfigError?

    init(_ owner: ConfigNode, allowedKeys: [String]) throws(ConfigError) {
        self.owner = owner
        if owner.isNull {
            values = [:]
            return
        }
        guard case .mapping(let mapping) = owner.node else {
            throw owner.error("expected a mapping, found \(owner.kind)")
        }
        var values: [String: ConfigNode] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                let key = ConfigNode(node: keyNode, path: owner.path, file: owner.file, problems: owner.problems)
                throw key.error("expected a key name, found \(key.kind)")
            }
            let name = scalar.string
            // Reported, and the mapping's other keys still read.
            guard allowedKeys.contains(name) else {
                let unknown = owner.child(name, keyNode).error(Self.unknownKeyMessage(name, allowedKeys: allowedKeys))
                owner.problems.note(unknown)
                if unknownKey == nil { unknownKey = unknown }
                continue
            }
            // Yams already rejects repeats of the same text; this also catches e.g. `1` and `"1"`.
            guard values[name] == nil else {
                owner.problems.note(owner.child(name, keyNode).error("duplicate key `\(name)`"))
                continue
            }
            values[name] = owner.child(name, value)
        }
        self.values = values
    }

    /// The value, or `nil` when the key is absent.
    func value(_ key: String) -> ConfigNode? {
        values[key]
    }

    /// The value of an optional block: `nil` when absent *or empty*, so a block whose every line is
    /// commented out (`timeouts:` alone) means "all defaults", as it reads.
    func block(_ key: String) -> ConfigNode? {
        guard let node = values[key], !node.isNull else { return nil }
        return node
    }

    func required(_ key: String) throws(ConfigError) -> ConfigNode {
        guard let node = values[key] else {
            throw unknownKey ?? owner.error("missing required key `\(key)`")
        }
        return node
    }

    private static func unknownKeyMessage(_ key: String, allowedKeys: [String]) -> String {
        if let guess = Spelling.suggestion(for: key, among: allowedKeys) {
            return "unknown key `\(key)`; did you mean `\(guess)`?"
        }
        return "unknown key `\(key)`; expected one of: \(allowedKeys.joined(separator: ", "))"
    }
}

/// The errors found in one file. Only the decoding of that file touches it.
final class ConfigProblems {
    private(set) var found: [ConfigError] = []

    func note(_ error: ConfigError) {
        if !found.contains(error) { found.append(error) }
    }

    /// Every error found, in the order the decoder read them (the schema's order, a mapping's
    /// unknown keys before what is in it): the first one, with the others in ``ConfigError/more``.
    func combined(with last: ConfigError? = nil) -> ConfigError? {
        if let last { note(last) }
        guard var first = found.first else { return nil }
        first.more = Array(found.dropFirst())
        return first
    }
}
