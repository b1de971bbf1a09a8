/// A fixed number of the latest elements: appending past ``capacity`` drops the oldest, so memory
/// stays bounded whatever the traffic or the uptime.
public struct HistoryRing<Element>: Sendable where Element: Sendable {
    public let capacity: Int
    private var storage: [Element] = []
    /// Where the next element goes once ``storage`` is full (the oldest one's slot).
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "a history keeps at least one element")
        self.capacity = capacity
        storage.reserveCapacity(capacity)
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[next] = element
            next = (next + 1) % capacity
        }
    }

    /// Oldest first.
    public var elements: [Element] {
        Array(storage[next...] + storage[..<next])
    }

    /// The newest, if any.
    public var last: Element? {
        storage.isEmpty ? nil : storage[(next + storage.count - 1) % storage.count]
    }
}

extension HistoryRing: Equatable where Element: Equatable {
    public static func == (a: Self, b: Self) -> Bool {
        a.capacity == b.capacity && a.elements == b.elements
    }
}
