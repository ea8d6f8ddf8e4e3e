import ArgumentParser
import CustomerCacheApp
import Foundation
import Logging

/// The customer-cache command line: `serve` runs the service; later subcommands add the sandbox, signing and warm-up.
@main
struct CustomerCacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customer-cache",
        abstract: "A trustworthy local cache of Digital River customers.",
        subcommands: [Serve.self, SignCommand.self],
        defaultSubcommand: Serve.self
    )
}
