import Testing
import LatchCore

struct TextTableTests {
    @Test("columns line up by terminal width: wide characters take two cells, combining marks none")
    func alignsByDisplayWidth() {
        var table = TextTable([.init("NODE"), .init("SESSIONS", .right), .init("SINCE")])
        table.append(["tomcat1", "12", "4 min"])
        table.append(["東京", "3", "—"])
        table.append(["cafe\u{301}", "1234", "2 h"])
        #expect(table.lines(indent: "  ") == [
            "  NODE     SESSIONS  SINCE",
            "  tomcat1        12  4 min",
            "  東京            3  —",
            "  café         1234  2 h",
        ])
    }

    @Test(arguments: [
        ("tomcat1", 7), ("東京ノード", 10), ("cafe\u{301}", 4), ("—", 1), ("→", 1), ("🟢", 2), ("", 0),
    ])
    func displayWidth(_ text: String, _ cells: Int) {
        #expect(TextTable.displayWidth(text) == cells)
    }

    @Test(arguments: [
        (0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"), (86399, "23 h"), (86400, "1 d"),
        (-5, "0 s"),  // a clock a little behind the instance's
    ])
    func elapsed(_ seconds: Int, _ text: String) {
        #expect(ElapsedText.short(seconds: seconds) == text)
    }

    @Test(arguments: [
        (45, "45 s"), (3599, "59 min"), (3600, "1 h 0 min"), (3 * 3600 + 5 * 60 + 59, "3 h 5 min"),
        (2 * 86400 + 4 * 3600 + 59 * 60, "2 d 4 h"), (-1, "0 s"),
    ])
    func elapsedDetailed(_ seconds: Int, _ text: String) {
        #expect(ElapsedText.detailed(seconds: seconds) == text)
    }
}
