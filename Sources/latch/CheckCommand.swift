import ArgumentParser
import LatchCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and print a summary of its clusters, nodes and replicas."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        print(ConfigSummary.render(config))
        print("\(options.path == "-" || options.path == "/dev/stdin" ? "<stdin>" : options.path): OK")
    }
}
