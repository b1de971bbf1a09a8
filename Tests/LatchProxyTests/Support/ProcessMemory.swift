import Foundation

/// This process's resident memory, from /proc (Linux).
enum ProcessMemory {
    /// Current resident set, bytes.
    static func residentBytes() -> Int { field("VmRSS:") }

    /// Peak resident set since the last ``resetPeak()``, bytes.
    static func peakBytes() -> Int { field("VmHWM:") }

    /// Writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)).
    static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    private static func field(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let kb = line.dropFirst(name.count).split(separator: " ").first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
        return 0
    }
}
