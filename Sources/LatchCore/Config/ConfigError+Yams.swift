import Yams

/// Turning Yams' syntax errors into `ConfigError`s.
///
/// Yams' own descriptions embed a snippet of the document (for duplicate keys, the whole document),
/// so only its problem text and position are kept, in the same `file:line:column: message` shape as
/// every other configuration error.
extension ConfigError {
    init(composing error: any Error, yaml: String, file: String) {
        guard let yamlError = error as? YamlError else {
            self.init(file: file, message: "invalid YAML: \(error)")
            return
        }
        switch yamlError {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let message = Self.syntaxMessage(problem: problem, context: context, at: mark, yaml: yaml)
            self.init(file: file, line: mark.line, column: mark.column, message: message)
        case let .reader(problem, offset, _, _):
            let mark = offset.flatMap { Self.position(ofCharacterOffset: $0, in: yaml) }
            self.init(file: file, line: mark?.line, column: mark?.column, message: "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            // Yams reports the first occurrence of the alphabetically first repeated key.
            let key = duplicates.first ?? "?"
            if let found = DuplicateKeyLocator.locate(key: key, firstAt: context.mark, in: yaml) {
                self.init(
                    file: file, line: found.repeated.line, column: found.repeated.column, keyPath: found.keyPath,
                    message: "duplicate key `\(key)`; it is already set at line \(found.first.line), "
                        + "column \(found.first.column)")
            } else {
                self.init(file: file, line: context.mark.line, column: context.mark.column,
                          message: "duplicate key `\(key)`; each key may appear only once in a mapping")
            }
        default:
            self.init(file: file, message: "invalid YAML: \(yamlError)")
        }
    }

    /// "did not find expected ',' or ']' (while parsing a flow sequence that started at line 1, column 4)",
    /// plus a hint for the two mistakes libyaml words least helpfully.
    private static func syntaxMessage(problem: String, context: YamlError.Context?, at mark: Yams.Mark,
                                      yaml: String) -> String {
        // libyaml splits this one sentence across context and problem; say it plainly instead.
        if problem == "but found another document" {
            return "invalid YAML: a second document starts here; Latch reads one document per file"
        }
        var message = "invalid YAML: \(problem)"
        if let context {
            message += " (\(context.text) that started at line \(context.mark.line), column \(context.mark.column))"
        }
        if problem.contains("alias") || context?.text.contains("alias") == true {
            message += "; a value starting with `*` must be quoted, e.g. host: \"*.example.com\""
        } else if character(at: mark, in: yaml) == "\t" {
            message += "; YAML does not allow tabs for indentation, use spaces"
        }
        return message
    }

    /// The character at a libyaml position (1-based line and column, columns in Unicode scalars).
    private static func character(at mark: Yams.Mark, in yaml: String) -> Unicode.Scalar? {
        var line = 1
        var column = 1
        for scalar in yaml.unicodeScalars {
            if line == mark.line, column == mark.column {
                return scalar
            }
            if scalar == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return nil
    }

    /// Yams gives reader errors as an offset in `Character`s; convert to line and column.
    private static func position(ofCharacterOffset offset: Int, in yaml: String) -> (line: Int, column: Int)? {
        guard let end = yaml.index(yaml.startIndex, offsetBy: offset, limitedBy: yaml.endIndex) else {
            return nil
        }
        let before = yaml[..<end]
        let line = before.reduce(1) { $1 == "\n" || $1 == "\r\n" ? $0 + 1 : $0 }
        let lineStart = before.lastIndex(where: { $0 == "\n" || $0 == "\r\n" }).map(before.index(after:))
            ?? before.startIndex
        return (line, before[lineStart...].unicodeScalars.count + 1)
    }
}
