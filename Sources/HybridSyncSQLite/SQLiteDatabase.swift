import CSQLite

/// A failed SQLite call: the result code and SQLite's own message.
struct SQLiteError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "\(message) (SQLite code \(code))" }
}

/// One SQLite connection, used from one thread. The only place that calls SQLite.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]

    init(path: String) throws(SQLiteError) {
        var handle: OpaquePointer?
        let status = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(handle)
            throw SQLiteError(code: status, message: message)
        }
        self.handle = handle
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs SQL without results (several statements are allowed).
    func execute(_ sql: String) throws(SQLiteError) {
        let status = sqlite3_exec(handle, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw error(status) }
    }

    /// A prepared statement for `sql`, prepared once and reused (reset before it is returned).
    func statement(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var raw: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard status == SQLITE_OK, let raw else { throw error(status) }
        let statement = Statement(raw, database: self)
        statements[sql] = statement
        return statement
    }

    /// Runs one statement with `bindings`, ignoring rows.
    func run(_ sql: String, _ bindings: SQLiteValue...) throws(SQLiteError) {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {}
    }

    /// The first column of the first row of `sql`, as text.
    func text(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try statement(sql)
        defer { statement.reset() }  // a statement left mid-result would block COMMIT
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    fileprivate func error(_ status: Int32) -> SQLiteError {
        SQLiteError(code: status, message: String(cString: sqlite3_errmsg(handle)))
    }

    /// A value to bind.
    enum SQLiteValue {
        case int(Int64)
        case double(Double)
        case text(String)
        case null
    }

    /// A prepared statement; valid while its database is.
    final class Statement {
        private let raw: OpaquePointer
        private unowned let database: SQLiteDatabase

        fileprivate init(_ raw: OpaquePointer, database: SQLiteDatabase) {
            self.raw = raw
            self.database = database
        }

        deinit { sqlite3_finalize(raw) }

        func reset() {
            sqlite3_reset(raw)
            sqlite3_clear_bindings(raw)
        }

        func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
            for (index, value) in values.enumerated() {
                let position = Int32(index + 1)
                let status: Int32 = switch value {
                case .int(let number): sqlite3_bind_int64(raw, position, number)
                case .double(let number): sqlite3_bind_double(raw, position, number)
                // An explicit length: a key may hold U+0000, which -1 would cut at.
                case .text(let text): sqlite3_bind_text(raw, position, text, Int32(text.utf8.count), hs_sqlite_transient())
                case .null: sqlite3_bind_null(raw, position)
                }
                guard status == SQLITE_OK else { throw database.error(status) }
            }
        }

        /// Advances; true when a row is available.
        func step() throws(SQLiteError) -> Bool {
            switch sqlite3_step(raw) {
            case SQLITE_ROW: return true
            case SQLITE_DONE: return false
            case let status: throw database.error(status)
            }
        }

        func int(_ column: Int32) -> Int64 { sqlite3_column_int64(raw, column) }
        func double(_ column: Int32) -> Double { sqlite3_column_double(raw, column) }
        func isNull(_ column: Int32) -> Bool { sqlite3_column_type(raw, column) == SQLITE_NULL }

        func text(_ column: Int32) -> String? {
            guard let bytes = sqlite3_column_text(raw, column) else { return nil }
            let count = Int(sqlite3_column_bytes(raw, column))
            return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
        }
    }
}
