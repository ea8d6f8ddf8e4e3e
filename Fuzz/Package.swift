// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for the modules that parse untrusted bytes. A package of its own (depending on "../") so the
// product's `swift build` never compiles them; built only by scripts/fuzz with
// `swift build -Xswiftc -sanitize=fuzzer,address`. Each harness is an executable whose entry point is
// libFuzzer's `main`, which calls our `@_cdecl("LLVMFuzzerTestOneInput")`; `-parse-as-library` stops swiftc
// from emitting a `main` of its own.
// One per parser: HTTP1's request parser, JSON, the signature header, event decoding, the JSON-RPC dispatcher.
let harnesses = ["FuzzHTTPRequest", "FuzzJSON", "FuzzSignature", "FuzzEvent", "FuzzRPC"]

let package = Package(
    name: "customer-cache-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "customer-cache", path: "..")],
    targets: [
        // Invariant checks shared by every harness: a broken invariant must crash so libFuzzer saves the input.
        .target(name: "FuzzSupport"),
    ] + harnesses.map { harness in
        .executableTarget(
            name: harness,
            dependencies: ["FuzzSupport", .product(name: "CustomerCacheParsers", package: "customer-cache")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"]), .enableUpcomingFeature("ExistentialAny")]
        )
    }
)
