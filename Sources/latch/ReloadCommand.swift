import ArgumentParser
import Foundation

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Check lb.yaml, then ask the running Latch to apply it (through its admin API).",
        discussion: """
            The file is validated here first, so a broken file is reported at once with its line and column
            and nothing is sent. The running Latch is reached at the file's admin address, with the bearer
            token from admin.token_file. Without an admin listener, send SIGHUP instead: kill -HUP <pid>.
            """
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        guard let admin = config.admin else {
            printError("error: latch reload talks to the admin API, and \(options.path) has no `admin:` block; add one, or send SIGHUP to the latch process (kill -HUP <pid>)")
            throw ExitCode.failure
        }
        let target = AdminTarget(admin: admin, configPath: options.path)
        // A token file that cannot be read sends no token: the running Latch's 401 then says so.
        let token = target.tokenFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
        let answer: AdminClient.Answer
        do {
            answer = try await AdminClient.send(.POST, "/api/reload", to: target.address, token: token, json: "{}")
        } catch {
            printError("error: \(target.unreachable(error))")
            throw ExitCode.failure
        }
        switch answer.status.code {
        case 200:
            print("reloaded: \(answer.said)")
        case 401:
            printError("error: \(target.unauthorized)")
            throw ExitCode.failure
        case 422:
            printError("error: the running Latch rejected the file and keeps its configuration: \(answer.said)")
            throw ExitCode.failure
        default:
            printError("error: \(target.answered(answer))")
            throw ExitCode.failure
        }
    }
}
