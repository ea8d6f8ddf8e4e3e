#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H

#include <libpq-fe.h>

// PG_DIAG_* are character macros Swift does not import; the PostgreSQL module reads error fields through these.

/// The five-character SQLSTATE of a failed result, or NULL.
static inline const char *clibpq_sqlstate(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}

/// The primary message of a failed result (no DETAIL, which may quote row values), or NULL.
static inline const char *clibpq_primary_message(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
}

static inline void clibpq_ignore_notice(void *argument, const char *message) {
    (void)argument;
    (void)message;
}

/// Drops server NOTICEs (libpq prints them to stderr by default, and they may quote values).
static inline void clibpq_silence_notices(PGconn *connection) {
    PQsetNoticeProcessor(connection, clibpq_ignore_notice, NULL);
}

#endif
