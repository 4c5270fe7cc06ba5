// SQLite 3 for HybridSyncSQLite (Debian libsqlite3-dev). Only HybridSyncSQLite imports this module.
#ifndef HS_SQLITE_SHIM_H
#define HS_SQLITE_SHIM_H

#include <sqlite3.h>

/// SQLITE_TRANSIENT is a cast macro Swift cannot import: SQLite copies the bound bytes.
static inline sqlite3_destructor_type hs_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
