import ArgumentParser
import CustomerCacheApp
import Foundation
import Logging

/// The customer-cache command line: `serve` runs the service, `sign` signs a webhook body, `sandbox` runs the Digital
/// River emulator, `warm` warms a running service from Digital River.
@main
struct CustomerCacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer-cache",
        abstract: "A trustworthy local cache of Digital River customers.",
        subcommands: [Serve.self, SignCommand.self, SandboxCommand.self, WarmCommand.self],
        defaultSubcommand: Serve.self
    )
}
