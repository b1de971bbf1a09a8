import Yams

/// Finds where a repeated mapping key repeats, and under which key path.
///
/// Yams rejects a mapping with a repeated key before handing out any tree and reports only the
/// *first* occurrence, with no key path. To point at the repeat instead, the reported occurrence is
/// overwritten with a private-use character (one scalar for one scalar, so no other line or column
/// moves), the text is composed again, and the key path is read off the now-valid tree. Any surprise
/// (an escaped key, a second error) yields `nil` and the caller falls back to Yams' own position.
enum DuplicateKeyLocator {
    struct Finding {
        var keyPath: String
        var first: Yams.Mark
        var repeated: Yams.Mark
    }

    /// Enough rounds for a handful of repeated keys elsewhere in the file; each round blanks one.
    private static let maxRounds = 16

    static func locate(key: String, firstAt mark: Yams.Mark, in yaml: String) -> Finding? {
        var text = yaml
        // Which key each blanked position held, so blanks of other repeated keys are not counted.
        var blanked: [Position: String] = [:]
        var next = (key: key, mark: mark)
        for round in 0..<maxRounds {
            // Each blank gets its own character so two blanked copies of one key cannot collide.
            let replacement = Unicode.Scalar(0xE000 + UInt32(round))!
            guard let edit = blank(at: next.mark, in: text, with: replacement) else { return nil }
            text = edit.text
            blanked[edit.position] = next.key
            do {
                guard let root = try Yams.compose(yaml: text, .default, .default, .utf8) else { return nil }
                return search(root, path: "", key: key, first: Position(mark), blanked: blanked)
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                next = (duplicates.first ?? "", context.mark)
            } catch {
                return nil
            }
        }
        return nil
    }

    private struct Position: Hashable {
        var line: Int
        var column: Int

        init(_ mark: Yams.Mark) {
            line = mark.line
            column = mark.column
        }
    }

    /// Replaces the key's first character (after an opening quote) at `mark`.
    private static func blank(at mark: Yams.Mark, in text: String,
                              with replacement: Unicode.Scalar) -> (text: String, position: Position)? {
        var scalars = Array(text.unicodeScalars)
        var line = 1
        var column = 1
        var index = 0
        while index < scalars.count, line != mark.line || column != mark.column {
            if scalars[index] == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += 1
        }
        guard index < scalars.count else { return nil }
        if scalars[index] == "\"" || scalars[index] == "'" {
            index += 1
        }
        guard index < scalars.count, scalars[index] != "\\", scalars[index] != "\n",
              scalars[index] != "\"", scalars[index] != "'" else { return nil }
        scalars[index] = replacement
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        return (String(result), Position(mark))
    }

    /// Depth-first search for the mapping holding the blanked first occurrence.
    private static func search(_ node: Yams.Node, path: String, key: String, first: Position,
                               blanked: [Position: String]) -> Finding? {
        switch node {
        case .mapping(let mapping):
            let keys = mapping.map(\.key)
            if keys.contains(where: { $0.mark.map(Position.init) == first }) {
                let occurrences = keys.filter { candidate in
                    candidate.string == key || candidate.mark.flatMap { blanked[Position($0)] } == key
                }
                guard occurrences.count >= 2, let firstMark = occurrences[0].mark,
                      let repeatedMark = occurrences[1].mark else { return nil }
                let keyPath = path.isEmpty ? key : "\(path).\(key)"
                return Finding(keyPath: keyPath, first: firstMark, repeated: repeatedMark)
            }
            for (childKey, value) in mapping {
                let name = childKey.string ?? "?"
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                if let found = search(value, path: childPath, key: key, first: first, blanked: blanked) {
                    return found
                }
            }
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                if let found = search(element, path: "\(path)[\(index)]", key: key, first: first, blanked: blanked) {
                    return found
                }
            }
        case .scalar, .alias:
            break
        }
        return nil
    }
}
