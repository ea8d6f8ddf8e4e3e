import CustomerCacheApp
import DigitalRiverSandbox
import ServiceLifecycle

/// The Digital River emulator as a Service (`serve --sandbox`, `sandbox`): already listening when the group starts,
/// it serves until graceful shutdown, then stops accepting, drops undelivered webhooks and returns once drained.
struct EmulatorService: Service {
    let sandbox: DigitalRiverSandbox

    func run() async {
        try? await gracefulShutdown()
        let sandbox = sandbox
        sandbox.shutdown()
        await runBlocking { sandbox.waitUntilStopped() }
    }
}
