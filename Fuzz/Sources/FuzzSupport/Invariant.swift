#if canImport(Glibc)
    import Glibc
#endif

/// Stops the run when a harness's invariant breaks, so libFuzzer records the input as a crasher. Unlike
/// `precondition`, it also holds in `-Ounchecked` builds and prints which invariant failed.
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if condition() { return }
    let text = "invariant broken at \(file):\(line): \(message())\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    abort()
}

/// The fuzzer's input as a byte array (the parsers take arrays or borrow their own buffers).
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}
