import Foundation

/// The process metrics every Prometheus client library exports, named as they are there
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
/// `process_max_fds`, `process_start_time_seconds`), read from `/proc/self` at each scrape. A value
/// that cannot be read (another system) is left out rather than made up.
enum ProcessMetrics {
    static func exposition() -> String {
        #if os(Linux)
        var out = ""
        func gauge(_ name: String, _ type: String, _ help: String, _ value: Double?) {
            guard let value else { return }
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        var usage = rusage()
        let cpu = getrusage(RUSAGE_SELF.rawValue, &usage) == 0 ? seconds(usage.ru_utime) + seconds(usage.ru_stime) : nil
        gauge("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds", cpu)
        gauge("process_resident_memory_bytes", "gauge", "Resident memory size in bytes", residentBytes())
        gauge("process_open_fds", "gauge", "Number of open file descriptors", openDescriptors())
        var limit = rlimit()
        let maxFDs = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Double(limit.rlim_cur) : nil
        gauge("process_max_fds", "gauge", "Maximum number of open file descriptors", maxFDs)
        gauge("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds", startTime)
        return out
        #else
        return ""
        #endif
    }

    #if os(Linux)
    private static func seconds(_ time: timeval) -> Double {
        Double(time.tv_sec) + Double(time.tv_usec) / 1e6
    }

    /// `/proc/self/statm`'s second field, in pages.
    private static func residentBytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func openDescriptors() -> Double? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        // The directory listing holds one descriptor of its own while it is read.
        return Double(max(0, entries.count - 1))
    }

    /// Field 22 of `/proc/self/stat` (clock ticks after boot) plus the boot time from `/proc/stat`;
    /// read once, it does not change.
    private static let startTime: Double? = {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            let boot = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let bootLine = boot.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let bootTime = Double(bootLine.dropFirst("btime ".count))
        else { return nil }
        // After the command name in parentheses: field 3 (state) is the first; start time is field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        return bootTime + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }()
    #endif
}
