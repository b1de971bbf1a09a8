import NIOHTTP2
import Testing

@testable import LatchProxy

@Suite("HTTP2StreamTable: a connection's open streams by id")
struct HTTP2StreamTableTests {
    final class Entry: HTTP2Identified {
        let id: HTTP2StreamID
        init(_ id: Int) { self.id = HTTP2StreamID(id) }
    }

    static func table(_ ids: [Int]) -> HTTP2StreamTable<Entry> {
        var table = HTTP2StreamTable<Entry>()
        for id in ids { table.insert(Entry(id)) }
        return table
    }

    static func ids(_ table: HTTP2StreamTable<Entry>) -> [Int] { table.all.map { Int($0.id) } }

    @Test(
        "inserted in any order, kept in id order",
        arguments: [
            ([], []),
            ([1], [1]),
            ([1, 3, 5, 7], [1, 3, 5, 7]),
            ([7, 5, 3, 1], [1, 3, 5, 7]),
            ([5, 1, 9, 3, 7], [1, 3, 5, 7, 9]),
        ] as [([Int], [Int])])
    func order(inserted: [Int], kept: [Int]) {
        #expect(Self.ids(Self.table(inserted)) == kept)
    }

    @Test(
        "found by id, and only the ids it holds",
        arguments: [
            ([1, 3, 5, 7, 9], 1, true), ([1, 3, 5, 7, 9], 5, true), ([1, 3, 5, 7, 9], 9, true),
            ([1, 3, 5, 7, 9], 0, false), ([1, 3, 5, 7, 9], 4, false), ([1, 3, 5, 7, 9], 11, false),
            ([], 1, false), ([3], 3, true), ([3], 1, false), ([3], 5, false),
        ] as [([Int], Int, Bool)])
    func lookUp(held: [Int], id: Int, found: Bool) {
        let table = Self.table(held)
        #expect((table[HTTP2StreamID(id)]?.id).map(Int.init) == (found ? id : nil))
    }

    @Test(
        "removing one leaves the others in order; removing what is not there changes nothing",
        arguments: [
            ([1, 3, 5, 7], 1, [3, 5, 7]), ([1, 3, 5, 7], 5, [1, 3, 7]), ([1, 3, 5, 7], 7, [1, 3, 5]),
            ([1, 3, 5, 7], 4, [1, 3, 5, 7]), ([1], 1, []), ([], 1, []),
        ] as [([Int], Int, [Int])])
    func remove(held: [Int], id: Int, left: [Int]) {
        var table = Self.table(held)
        let removed = table.remove(HTTP2StreamID(id))
        #expect((removed?.id).map(Int.init) == (held.contains(id) ? id : nil))
        #expect(Self.ids(table) == left)
        #expect(table.count == left.count)
        #expect(table.isEmpty == left.isEmpty)
    }

    @Test("a hundred streams opened and closed in a mixed order: each found until it is removed")
    func churn() {
        var table = HTTP2StreamTable<Entry>()
        var open: Set<Int> = []
        var next = 1
        for round in 0..<500 {
            if round % 3 != 2 || open.isEmpty {
                table.insert(Entry(next))
                open.insert(next)
                next += 2
            } else {
                let victim = open.sorted()[(round * 7) % open.count]
                #expect(table.remove(HTTP2StreamID(victim)) != nil)
                open.remove(victim)
            }
            #expect(Self.ids(table) == open.sorted())
        }
        for id in stride(from: 1, to: next, by: 2) {
            #expect((table[HTTP2StreamID(id)] != nil) == open.contains(id))
        }
    }
}
