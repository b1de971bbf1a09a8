/// A time span as a status line gives it: "12 s", "4 min", "3 h", "2 d" (whole units, rounded down).
public enum ElapsedText {
    public static func short(seconds: Int) -> String {
        let seconds = max(0, seconds)
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3600: return "\(seconds / 60) min"
        case ..<86400: return "\(seconds / 3600) h"
        default: return "\(seconds / 86400) d"
        }
    }

    /// Two units past the first hour, for a page with room: "45 s", "4 min", "3 h 5 min", "2 d 4 h".
    public static func detailed(seconds: Int) -> String {
        let seconds = max(0, seconds)
        switch seconds {
        case ..<3600: return short(seconds: seconds)
        case ..<86400: return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
        default: return "\(seconds / 86400) d \(seconds % 86400 / 3600) h"
        }
    }
}
