import Customers

/// One page of `GET /customers`. Pass `lastID` as `startingAfter` while `hasMore` is true (reference §2).
public struct CustomerPage: Sendable, Hashable {
    /// The page's valid customers, in DR's order.
    public let customers: [Customer]
    public let hasMore: Bool
    /// The id of the page's last element as DR sent it, valid or not, so paging moves past an element we skipped.
    /// nil only for an empty page.
    public let lastID: String?
    /// Elements that failed `Customer(json:)` validation and were left out (each is logged at warning level).
    /// One bad record must not stop a warm-up of thousands; the count lets the caller report or alarm on it.
    public let skippedInvalid: Int
    /// The ids of the skipped elements that had one, for follow-up.
    public let skippedIDs: [String]

    public init(customers: [Customer], hasMore: Bool, lastID: String?, skippedInvalid: Int = 0, skippedIDs: [String] = []) {
        self.customers = customers
        self.hasMore = hasMore
        self.lastID = lastID
        self.skippedInvalid = skippedInvalid
        self.skippedIDs = skippedIDs
    }
}
