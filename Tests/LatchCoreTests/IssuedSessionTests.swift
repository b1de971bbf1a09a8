import Testing

@testable import LatchCore

/// Reading the session cookie out of a response's `Set-Cookie` (RFC 6265 §5.2, §5.3), for drain.
struct IssuedSessionTests {
    /// 2026-12-04T12:00:00Z
    static let now: Int64 = 1_796_385_600

    struct Row: Sendable, CustomTestStringConvertible {
        var field: String
        var expected: IssuedSession?
        var testDescription: String { field }
    }

    static func issued(_ id: Substring, deleted: Bool = false) -> IssuedSession { IssuedSession(id: id, deleted: deleted) }

    static let rows: [Row] = [
        Row(field: "JSESSIONID=ABC.tomcat1; Path=/; HttpOnly", expected: issued("ABC.tomcat1")),
        Row(field: "JSESSIONID=ABC.tomcat1", expected: issued("ABC.tomcat1")),
        Row(field: " JSESSIONID = ABC.tomcat1 ;Secure", expected: issued("ABC.tomcat1")),
        Row(field: "JSESSIONID=\"ABC.tomcat1\"; Path=/", expected: issued("ABC.tomcat1")),
        Row(field: "jsessionid=ABC.tomcat1", expected: nil),
        Row(field: "XJSESSIONID=ABC.tomcat1", expected: nil),
        Row(field: "theme=dark; JSESSIONID=ABC.tomcat1", expected: nil),
        Row(field: "JSESSIONID", expected: nil),
        // Deletions: Max-Age 0 or negative, an Expires in the past; Max-Age wins over Expires.
        Row(field: "JSESSIONID=; Path=/; Max-Age=0", expected: issued("", deleted: true)),
        Row(field: "JSESSIONID=ABC.tomcat1; max-age=-1", expected: issued("ABC.tomcat1", deleted: true)),
        Row(field: "JSESSIONID=ABC.tomcat1; Max-Age=1800", expected: issued("ABC.tomcat1")),
        Row(field: "JSESSIONID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", expected: issued("x", deleted: true)),
        Row(field: "JSESSIONID=x; Expires=Thu, 01-Jan-1970 00:00:10 GMT; Path=/", expected: issued("x", deleted: true)),
        Row(field: "JSESSIONID=x; expires=Thursday, 01-Jan-70 00:00:10 GMT", expected: issued("x", deleted: true)),
        Row(field: "JSESSIONID=x; Expires=Sun Nov  6 08:49:37 1994", expected: issued("x", deleted: true)),
        Row(field: "JSESSIONID=x; Expires=Fri, 01 Jan 2100 00:00:00 GMT", expected: issued("x")),
        Row(field: "JSESSIONID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60", expected: issued("x")),
        Row(field: "JSESSIONID=x; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT", expected: issued("x", deleted: true)),
        // Unreadable attributes are left out (§5.2.1, §5.2.2), not taken as deletions.
        Row(field: "JSESSIONID=x; Expires=yesterday", expected: issued("x")),
        Row(field: "JSESSIONID=x; Max-Age=soon", expected: issued("x")),
        Row(field: "JSESSIONID=x; Max-Age=", expected: issued("x")),
        Row(field: "JSESSIONID=x; Max-Age=99999999999999999999999", expected: issued("x")),
    ]

    @Test(arguments: rows)
    func reads(row: Row) {
        #expect(IssuedSession.parse(row.field, cookie: "JSESSIONID", now: Self.now) == row.expected)
    }

    @Test func anotherCookieName() {
        #expect(IssuedSession.parse("SESSION=abc.n1; Path=/", cookie: "SESSION", now: Self.now) == Self.issued("abc.n1"))
        #expect(IssuedSession.parse("JSESSIONID=abc.n1", cookie: "SESSION", now: Self.now) == nil)
    }

    @Test(arguments: [
        ("Thu, 01 Jan 1970 00:00:00 GMT", Int64(0)),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777),
        ("Sun Nov  6 08:49:37 1994", 784_111_777),
        ("Wed, 29 Feb 2040 23:59:59 GMT", 2_214_172_799),
        ("06 nov 2069 8:9:7", 3_150_950_947),
    ])
    func cookieDates(text: String, seconds: Int64) {
        var text = text
        #expect(text.withUTF8 { CookieDate.parse($0) } == seconds)
    }

    @Test(arguments: ["", "Sun, 06 Nov 1994", "Sun, 32 Nov 1994 08:49:37", "Sun, 06 Nov 1600 08:49:37", "Sun, 06 Nov 1994 24:00:00", "06 Foo 1994 08:49:37"])
    func unreadableCookieDates(text: String) {
        var text = text
        #expect(text.withUTF8 { CookieDate.parse($0) } == nil)
    }
}
