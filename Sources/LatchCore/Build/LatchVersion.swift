/// Latch's version, in one place: `latch --version`, the start-up log line, `/api/status` and the
/// `latch_build_info` metric all read it, and `Scripts/package` names the archive after it.
/// Semantic versioning; the changes of each version are in CHANGELOG.md.
public enum LatchVersion {
    public static let current = "0.1.0"
}
