import ArgumentParser
import LatchCore

struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Show which cluster and node a request would go to, and why.",
        discussion: """
            Example: latch route --cookie 'JSESSIONID=abc.tomcat1' --path '/cart;jsessionid=abc.tomcat2'
            Health and load are not known here: for a request without a usable route this shows the
            first pick of a fresh balancer.
            """
    )

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "A Cookie header value; repeat for several Cookie headers.")
    var cookie: [String] = []

    @Option(name: .long, help: "The request target, e.g. '/cart;jsessionid=ABC.tomcat1?x=1'.")
    var path: String = "/"

    @Option(name: .long, help: "The Host header.")
    var host: String?

    func run() throws {
        let config = try options.load()
        print(RouteExplanation.explain(config: config, host: host, target: path, cookies: cookie))
    }
}
