/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpLogLimiter keeps hostile callers from flooding the journal: at most one
 * line per key (a D-Bus sender) per interval, the lines held back counted
 * and reported when the key's interval ends ("... and 999 more from :1.42
 * in the last minute"), or with the key's next line if that comes first.
 *
 * Bounded both ways: at most max_keys keys are remembered (the oldest is
 * forgotten for a new one, its count moving to "other senders"), and at
 * most max_lines first lines are let through per interval over all keys
 * (a client opening connection after connection gets a new unique name
 * each time); beyond that every line is counted for "other senders" too.
 *
 * Pure: the caller passes the time (microseconds, monotonic), so that a
 * test drives the clock.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SpLogLimiter SpLogLimiter;

SpLogLimiter *sp_log_limiter_new (gint64 interval_us, guint max_keys, guint max_lines);
void sp_log_limiter_free (SpLogLimiter *self);

/*
 * A line about key at now_us: TRUE when it may be logged. Then *suppressed
 * is how many lines of key were held back in its interval that just ended
 * (0 mostly): the caller adds "(and N more ...)" to its line.
 */
gboolean sp_log_limiter_allow (SpLogLimiter *self, const char *key, gint64 now_us,
                               guint64 *suppressed);

/*
 * Called for each count that is due: key NULL stands for "other senders"
 * (forgotten keys and lines over max_lines).
 */
typedef void (*SpLogLimiterFunc) (const char *key, guint64 suppressed, gpointer user_data);

/*
 * Ends every interval over at now_us (G_MAXINT64: all of them): func gets
 * each key that had lines held back, and the key is forgotten.
 */
void sp_log_limiter_expire (SpLogLimiter *self, gint64 now_us, SpLogLimiterFunc func,
                            gpointer user_data);

/* When the next interval ends (G_MAXINT64: nothing is remembered). */
gint64 sp_log_limiter_next_expiry (SpLogLimiter *self);

/* How many keys are remembered. */
guint sp_log_limiter_get_n_keys (SpLogLimiter *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpLogLimiter, sp_log_limiter_free)

G_END_DECLS
