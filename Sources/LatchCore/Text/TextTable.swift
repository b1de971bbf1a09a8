/// Columns for a terminal, aligned by the width characters take on screen, not by their count: a
/// node named in CJK takes two cells a character, and an accent written as a combining mark none.
///
/// ```
/// NODE     STATE     SESSIONS
/// tomcat1  active          12
/// tomcat2  draining         3
/// ```
public struct TextTable: Sendable {
    public enum Alignment: Sendable {
        case left
        /// Numbers, so that their digits line up.
        case right
    }

    public struct Column: Sendable {
        public var title: String
        public var alignment: Alignment

        public init(_ title: String, _ alignment: Alignment = .left) {
            self.title = title
            self.alignment = alignment
        }
    }

    public var columns: [Column]
    public var rows: [[String]] = []

    public init(_ columns: [Column]) {
        self.columns = columns
    }

    public mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "a row of \(row.count) cells in a table of \(columns.count) columns")
        rows.append(row)
    }

    /// The title line, then a line per row; two spaces between columns, none after the last cell.
    public func lines(indent: String = "") -> [String] {
        let all = [columns.map(\.title)] + rows
        let widths = columns.indices.map { column in all.map { Self.displayWidth($0[column]) }.max() ?? 0 }
        return all.map { cells in
            var line = indent
            for (column, cell) in cells.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - Self.displayWidth(cell))
                let isLast = column == cells.count - 1
                switch columns[column].alignment {
                case .left: line += cell + (isLast ? "" : padding)
                case .right: line += padding + cell
                }
                if !isLast { line += "  " }
            }
            return line
        }
    }

    /// Terminal cells `text` takes: 2 for East Asian wide and full-width characters (and emoji
    /// presentation), 0 for combining marks and zero-width joiners, 1 for the rest — wcwidth(3)'s
    /// rules, kept to the ranges names and numbers in a status table can hold.
    public static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { width, scalar in width + cells(scalar) }
    }

    private static func cells(_ scalar: Unicode.Scalar) -> Int {
        let properties = scalar.properties
        switch properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format, .control: return 0
        default: break
        }
        if properties.isEmojiPresentation { return 2 }
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
             0xFFE0...0xFFE6, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }
}
