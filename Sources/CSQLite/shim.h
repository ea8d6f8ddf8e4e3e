#ifndef CSQLITE_SHIM_H
#define CSQLITE_SHIM_H

#include <sqlite3.h>

// Helpers for what Swift cannot import from sqlite3.h: function-like macros
// that cast integers to function pointers, and variadic functions.

/// SQLITE_TRANSIENT: SQLite copies the bound bytes before the bind call returns.
static inline sqlite3_destructor_type csqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

/// sqlite3_db_config for the (int, int *) family of options (ENABLE_FKEY, DEFENSIVE, DQS_*, ...).
/// `out` receives the setting as it is after the call, so callers can verify it took effect.
static inline int csqlite_db_config_int(sqlite3 *db, int op, int value, int *out) {
    return sqlite3_db_config(db, op, value, out);
}

/// Binds UTF-8 text, copied (SQLITE_TRANSIENT). A NULL pointer with zero length
/// (Swift's empty buffer has no base address) binds the empty string, never SQL NULL.
static inline int csqlite_bind_text(sqlite3_stmt *stmt, int index, const void *bytes, sqlite3_uint64 count) {
    const char *text = bytes ? (const char *)bytes : "";
    return sqlite3_bind_text64(stmt, index, text, bytes ? count : 0, SQLITE_TRANSIENT, SQLITE_UTF8);
}

/// Binds a blob, copied (SQLITE_TRANSIENT). An empty blob binds a zero-length blob,
/// never SQL NULL (sqlite3_bind_blob with a NULL pointer would bind NULL).
static inline int csqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *bytes, sqlite3_uint64 count) {
    if (bytes == 0 || count == 0) {
        return sqlite3_bind_zeroblob(stmt, index, 0);
    }
    return sqlite3_bind_blob64(stmt, index, bytes, count, SQLITE_TRANSIENT);
}

#endif
