import CLibPQ
import Glibc

/// One NOTIFY received on a LISTENed channel.
public struct PostgresNotification: Sendable, Hashable {
    public let channel: String
    public let payload: String
    /// The server process that sent it (`pg_backend_pid()` of the notifier).
    public let senderPID: Int32
}

extension PostgresConnection {
    /// Subscribes this session to `channel` (a plain identifier: letters, digits, `_`).
    public func listen(_ channel: String) throws(PostgresError) {
        guard !channel.isEmpty, channel.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) }) else {
            throw PostgresError(.statement, sqlState: "42602", message: "invalid channel name")
        }
        try execute("LISTEN \(channel)")
    }

    /// Sends `payload` on `channel`; delivered to listeners when the surrounding transaction commits.
    public func notify(_ channel: String, payload: String) throws(PostgresError) {
        try execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Waits up to `timeoutMilliseconds` for notifications on the socket (poll + `PQconsumeInput` + `PQnotifies`) and
    /// returns those that arrived, possibly none. Throws `.connection` when the connection broke, so the caller can
    /// reconnect; a caller must never rely on having seen every notification (they are lost while disconnected).
    public func waitForNotifications(timeoutMilliseconds: Int32) throws(PostgresError) -> [PostgresNotification] {
        var received = try drainNotifications()
        if !received.isEmpty { return received }
        let descriptor = socket
        guard descriptor >= 0 else { throw PostgresError(.connection, message: "connection closed") }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, timeoutMilliseconds)
        if ready < 0 && errno != EINTR { throw PostgresError(.connection, message: "poll failed: errno \(errno)") }
        if ready > 0 {
            guard consumeInput() else { throw PostgresError(.connection, message: "connection lost while waiting for notifications") }
            received = try drainNotifications()
        }
        return received
    }

    private func drainNotifications() throws(PostgresError) -> [PostgresNotification] {
        var received: [PostgresNotification] = []
        while let notification = nextNotification() { received.append(notification) }
        if received.isEmpty && !isConnected { throw PostgresError(.connection, message: "connection lost") }
        return received
    }
}
