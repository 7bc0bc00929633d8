/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-log"

#include "sp-log-limiter.h"

/* One key's interval. */
typedef struct {
  char *key;
  gint64 start_us;
  guint64 suppressed;
  GList link; /* in SpLogLimiter.order */
} Entry;

struct _SpLogLimiter {
  gint64 interval_us;
  guint max_keys;
  guint max_lines;

  GHashTable *entries; /* key → Entry* (owned) */
  GQueue order;        /* of Entry, oldest interval first */

  /* the lines let through in the interval that began at lines_start_us */
  gint64 lines_start_us;
  guint n_lines;

  /* held back for "other senders", due at others_due_us */
  guint64 others;
  gint64 others_due_us;
};

static void
entry_free (Entry *entry)
{
  g_free (entry->key);
  g_free (entry);
}

SpLogLimiter *
sp_log_limiter_new (gint64 interval_us, guint max_keys, guint max_lines)
{
  SpLogLimiter *self;

  g_return_val_if_fail (interval_us > 0, NULL);
  g_return_val_if_fail (max_keys > 0, NULL);

  self = g_new0 (SpLogLimiter, 1);
  self->interval_us = interval_us;
  self->max_keys = max_keys;
  self->max_lines = max_lines;
  self->entries =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) entry_free);
  g_queue_init (&self->order);
  self->lines_start_us = G_MININT64;
  self->others_due_us = G_MAXINT64;
  return self;
}

void
sp_log_limiter_free (SpLogLimiter *self)
{
  if (self == NULL)
    return;
  g_queue_init (&self->order); /* the links belong to the entries */
  g_hash_table_unref (self->entries);
  g_free (self);
}

static gint64
end_of (const SpLogLimiter *self, gint64 start_us)
{
  /* no overflow near G_MAXINT64 */
  return start_us > G_MAXINT64 - self->interval_us ? G_MAXINT64 : start_us + self->interval_us;
}

static void
add_others (SpLogLimiter *self, guint64 n, gint64 now_us)
{
  if (n == 0)
    return;
  if (self->others == 0)
    self->others_due_us = end_of (self, now_us);
  self->others += n;
}

static void
remove_entry (SpLogLimiter *self, Entry *entry)
{
  g_queue_unlink (&self->order, &entry->link);
  g_hash_table_remove (self->entries, entry->key);
}

/* A first line within the budget of max_lines per interval. */
static gboolean
take_line (SpLogLimiter *self, gint64 now_us)
{
  if (now_us >= end_of (self, self->lines_start_us))
    {
      self->lines_start_us = now_us;
      self->n_lines = 0;
    }
  if (self->n_lines >= self->max_lines)
    return FALSE;
  self->n_lines++;
  return TRUE;
}

gboolean
sp_log_limiter_allow (SpLogLimiter *self, const char *key, gint64 now_us, guint64 *suppressed)
{
  Entry *entry;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  if (suppressed != NULL)
    *suppressed = 0;
  entry = g_hash_table_lookup (self->entries, key);
  if (entry != NULL && now_us < end_of (self, entry->start_us))
    {
      entry->suppressed++;
      return FALSE;
    }

  if (!take_line (self, now_us))
    {
      /* over the budget: this line, and what the key held back, go to
       * "other senders" */
      if (entry != NULL)
        {
          add_others (self, entry->suppressed, now_us);
          remove_entry (self, entry);
        }
      add_others (self, 1, now_us);
      return FALSE;
    }

  if (entry != NULL)
    {
      /* its interval ended before anybody expired it: its count goes with
       * this line, and a new interval begins */
      if (suppressed != NULL)
        *suppressed = entry->suppressed;
      entry->suppressed = 0;
      entry->start_us = now_us;
      g_queue_unlink (&self->order, &entry->link);
      g_queue_push_tail_link (&self->order, &entry->link);
      return TRUE;
    }

  if (g_hash_table_size (self->entries) >= self->max_keys)
    {
      Entry *oldest = self->order.head->data;

      add_others (self, oldest->suppressed, now_us);
      remove_entry (self, oldest);
    }
  entry = g_new0 (Entry, 1);
  entry->key = g_strdup (key);
  entry->start_us = now_us;
  entry->link.data = entry;
  g_queue_push_tail_link (&self->order, &entry->link);
  g_hash_table_insert (self->entries, entry->key, entry);
  return TRUE;
}

void
sp_log_limiter_expire (SpLogLimiter *self, gint64 now_us, SpLogLimiterFunc func, gpointer user_data)
{
  g_return_if_fail (self != NULL);

  while (self->order.head != NULL)
    {
      Entry *entry = self->order.head->data;

      if (now_us < end_of (self, entry->start_us))
        break;
      if (entry->suppressed > 0 && func != NULL)
        func (entry->key, entry->suppressed, user_data);
      remove_entry (self, entry);
    }
  if (self->others > 0 && now_us >= self->others_due_us)
    {
      guint64 others = self->others;

      self->others = 0;
      self->others_due_us = G_MAXINT64;
      if (func != NULL)
        func (NULL, others, user_data);
    }
}

gint64
sp_log_limiter_next_expiry (SpLogLimiter *self)
{
  gint64 next;

  g_return_val_if_fail (self != NULL, G_MAXINT64);

  next = self->others_due_us;
  if (self->order.head != NULL)
    next = MIN (next, end_of (self, ((Entry *) self->order.head->data)->start_us));
  return next;
}

guint
sp_log_limiter_get_n_keys (SpLogLimiter *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return g_hash_table_size (self->entries);
}
