package import HybridSyncBroker

/// Webhook events on disk (a SQLite file of their own beside the engine's, WAL): an event is
/// stored before it is sent and removed once its receiver acknowledged it, so a receiver outage or
/// a daemon restart (even `kill -9`) loses none; after a restart the rest is sent again.
package final class SQLiteWebhookStore: WebhookStore {
    private let database: SQLiteDatabase
    private let path: String
    package private(set) var count: Int

    /// Opens or creates the store at `path`.
    package init(path: String) throws(BrokerError) {
        self.path = path
        do {
            database = try SQLiteDatabase(path: path)
            try database.execute("""
                PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
                CREATE TABLE IF NOT EXISTS outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
                """)
            count = Int(try database.text("SELECT COUNT(*) FROM outbox").flatMap { Int($0) } ?? 0)
        } catch {
            throw BrokerError("the webhook store '\(path)' cannot be used: \(error); check the path and its permissions")
        }
    }

    /// See ``WebhookStore/append(_:)``.
    package func append(_ event: String) throws(BrokerError) {
        do {
            try database.run("INSERT INTO outbox (event) VALUES (?)", .text(event))
            count += 1
        } catch {
            throw BrokerError("could not store a webhook event in '\(path)': \(error)")
        }
    }

    /// See ``WebhookStore/oldest(_:)``.
    package func oldest(_ limit: Int) throws(BrokerError) -> [(sequence: Int64, event: String)] {
        do {
            let rows = try database.statement("SELECT sequence, event FROM outbox ORDER BY sequence LIMIT ?")
            defer { rows.reset() }
            try rows.bind([.int(Int64(limit))])
            var events: [(sequence: Int64, event: String)] = []
            while try rows.step() { events.append((rows.int(0), rows.text(1) ?? "null")) }
            return events
        } catch {
            throw BrokerError("could not read the webhook store '\(path)': \(error)")
        }
    }

    /// See ``WebhookStore/remove(through:)``.
    package func remove(through sequence: Int64) throws(BrokerError) {
        do {
            // Counted over the acknowledged range only (a key range, the batch's size), not the whole table.
            let acknowledged = try database.statement("SELECT COUNT(*) FROM outbox WHERE sequence <= ?")
            try acknowledged.bind([.int(sequence)])
            let removed = try acknowledged.step() ? Int(acknowledged.int(0)) : 0
            acknowledged.reset()  // a statement left mid-result would hold the read while the delete writes
            try database.run("DELETE FROM outbox WHERE sequence <= ?", .int(sequence))
            count -= removed
        } catch {
            throw BrokerError("could not update the webhook store '\(path)': \(error)")
        }
    }
}
