import HybridSyncBroker
import HybridSyncProtocol

/// The tables, loading them into an image, and writing the image's mutations.
extension SQLiteBroker {
    /// Bumped when the tables change; a database from a newer version is refused, not misread.
    static let schemaVersion = 1

    static func prepare(_ database: SQLiteDatabase, synchronous: Synchronous) throws(SQLiteError) {
        // Fails with "file is not a database" here for a file that is not SQLite.
        guard try database.text("PRAGMA journal_mode=WAL")?.lowercased() == "wal" else {
            throw SQLiteError(code: 0, message: "the database cannot use WAL mode (is it on a network file system?)")
        }
        try database.execute("PRAGMA synchronous=\(synchronous == .full ? "FULL" : "NORMAL")")
        if let check = try database.text("PRAGMA quick_check"), check != "ok" {
            throw SQLiteError(code: 0, message: "integrity check failed: \(check.prefix(200))")
        }
        try database.execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS streams (channel TEXT PRIMARY KEY, epoch TEXT NOT NULL, offset INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS history (
                channel TEXT NOT NULL, offset INTEGER NOT NULL, time REAL NOT NULL,
                data TEXT NOT NULL, key TEXT, removed INTEGER NOT NULL,
                PRIMARY KEY (channel, offset)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS state (
                channel TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL,
                PRIMARY KEY (channel, key)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS bans (user TEXT PRIMARY KEY, reason TEXT NOT NULL, until REAL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS idempotency (
                key TEXT PRIMARY KEY, body TEXT NOT NULL, receipts TEXT NOT NULL, expires REAL NOT NULL);
            INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '\(schemaVersion)');
            """)
        let stored = try database.text("SELECT value FROM meta WHERE key = 'schema'").flatMap { Int($0) } ?? 0
        guard stored <= schemaVersion else {
            throw SQLiteError(code: 0, message: "it was written by a newer hybridsyncd (schema \(stored), this one knows \(schemaVersion))")
        }
    }

    /// Builds the image from the tables.
    static func load(_ database: SQLiteDatabase) throws(SQLiteError) -> StreamStore {
        let store = StreamStore(journaling: true, makeEpoch: StreamStore.randomEpoch)
        var streams: [ChannelName: (epoch: String, offset: UInt64, history: [SequencedPublication], state: [String: StateEntry])] = [:]
        let streamRows = try database.statement("SELECT channel, epoch, offset FROM streams")
        while try streamRows.step() {
            let channel = try channelName(streamRows.text(0))
            streams[channel] = (streamRows.text(1) ?? "", UInt64(max(0, streamRows.int(2))), [], [:])
        }
        let historyRows = try database.statement("SELECT channel, offset, time, data, key, removed FROM history ORDER BY channel, offset")
        while try historyRows.step() {
            let channel = try channelName(historyRows.text(0))
            guard let stream = streams[channel] else { continue }  // left from a forgotten stream
            let offset = UInt64(max(0, historyRows.int(1)))
            guard offset <= stream.offset else { continue }
            let publication = Publication(
                channel: channel, offset: offset, data: try json(historyRows.text(3)),
                key: historyRows.text(4), removed: historyRows.int(5) != 0
            )
            streams[channel]?.history.append(SequencedPublication(publication, epoch: stream.epoch, time: historyRows.double(2)))
        }
        let stateRows = try database.statement("SELECT channel, key, value, version FROM state")
        while try stateRows.step() {
            let channel = try channelName(stateRows.text(0))
            guard streams[channel] != nil, let key = stateRows.text(1) else { continue }
            streams[channel]?.state[key] = StateEntry(value: try json(stateRows.text(2)), version: UInt64(max(0, stateRows.int(3))))
        }
        for (channel, stream) in streams {
            store.restore(channel, StreamStore.Stream(epoch: stream.epoch, offset: stream.offset, history: stream.history, state: stream.state))
        }
        let banRows = try database.statement("SELECT user, reason, until FROM bans")
        while try banRows.step() {
            guard let user = banRows.text(0) else { continue }
            store.restoreBan(user, Ban(reason: banRows.text(1) ?? "", until: banRows.isNull(2) ? nil : banRows.double(2)))
        }
        let recordRows = try database.statement("SELECT key, body, receipts, expires FROM idempotency ORDER BY expires")
        while try recordRows.step() {
            guard let key = recordRows.text(0) else { continue }
            let receipts = try json(recordRows.text(2)).arrayValue?.compactMap(receipt) ?? []
            store.restoreRecord(key, body: try json(recordRows.text(1)), receipts: receipts, expires: recordRows.double(3))
        }
        return store
    }

    /// Writes mutations in one transaction.
    func write(_ mutations: [StreamStore.Mutation]) throws(SQLiteError) {
        try database.execute("BEGIN IMMEDIATE")
        for mutation in mutations {
            switch mutation {
            case .published(let sequenced, let change, let kept, let historyFrom):
                let publication = sequenced.publication
                let channel = publication.channel.rawValue
                try database.run(
                    "INSERT INTO streams (channel, epoch, offset) VALUES (?1, ?2, ?3) "
                        + "ON CONFLICT (channel) DO UPDATE SET epoch = excluded.epoch, offset = excluded.offset",
                    .text(channel), .text(sequenced.epoch), .int(Int64(publication.offset))
                )
                if kept {
                    try database.run(
                        "INSERT OR REPLACE INTO history (channel, offset, time, data, key, removed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        .text(channel), .int(Int64(publication.offset)), .double(sequenced.time),
                        .text(publication.data.jsonString), publication.key.map { .text($0) } ?? .null, .int(publication.removed ? 1 : 0)
                    )
                }
                if let historyFrom {
                    try database.run("DELETE FROM history WHERE channel = ?1 AND offset < ?2", .text(channel), .int(Int64(historyFrom)))
                }
                switch change {
                case .set(let key)?:
                    try database.run(
                        "INSERT OR REPLACE INTO state (channel, key, value, version) VALUES (?1, ?2, ?3, ?4)",
                        .text(channel), .text(key), .text(publication.data.jsonString), .int(Int64(publication.offset))
                    )
                case .remove(let key)?:
                    try database.run("DELETE FROM state WHERE channel = ?1 AND key = ?2", .text(channel), .text(key))
                case nil:
                    break
                }
            case .denyList(.ban(let user, let ban)):
                try database.run(
                    "INSERT OR REPLACE INTO bans (user, reason, until) VALUES (?1, ?2, ?3)",
                    .text(user), .text(ban.reason), ban.until.map { .double($0) } ?? .null
                )
            case .denyList(.lift(let user)):
                try database.run("DELETE FROM bans WHERE user = ?1", .text(user))
            case .remembered(let record, let receipts):
                let list = JSONValue.array(receipts.map { receipt in
                    var members: [String: JSONValue] = ["channel": .string(receipt.channel.rawValue), "offset": .int(Int64(receipt.offset))]
                    if let key = receipt.key { members["key"] = .string(key) }
                    return .object(members)
                })
                try database.run(
                    "INSERT OR REPLACE INTO idempotency (key, body, receipts, expires) VALUES (?1, ?2, ?3, ?4)",
                    .text(record.key), .text(record.body.jsonString), .text(list.jsonString), .double(record.expires)
                )
            case .forgotRecord(let key):
                try database.run("DELETE FROM idempotency WHERE key = ?1", .text(key))
            case .trimmed(let channel, let below):
                try database.run("DELETE FROM history WHERE channel = ?1 AND offset < ?2", .text(channel.rawValue), .int(Int64(below)))
            case .forgotten(let channel):
                for table in ["streams", "history", "state"] {
                    try database.run("DELETE FROM \(table) WHERE channel = ?1", .text(channel.rawValue))
                }
            }
        }
        try database.execute("COMMIT")
    }

    private static func channelName(_ raw: String?) throws(SQLiteError) -> ChannelName {
        guard let raw, let name = try? ChannelName(raw) else {
            throw SQLiteError(code: 0, message: "a stored channel name is not valid: '\(raw?.prefix(100) ?? "")'")
        }
        return name
    }

    private static func json(_ text: String?) throws(SQLiteError) -> JSONValue {
        guard let text, let value = try? JSONValue.parse(Array(text.utf8)) else {
            throw SQLiteError(code: 0, message: "a stored JSON value does not parse: '\(text?.prefix(100) ?? "")'")
        }
        return value
    }

    private static func receipt(_ json: JSONValue) -> PublishReceipt? {
        guard let raw = json["channel"]?.stringValue, let channel = try? ChannelName(raw), let offset = json["offset"]?.intValue else { return nil }
        return PublishReceipt(channel: channel, offset: UInt64(offset), key: json["key"]?.stringValue)
    }
}
