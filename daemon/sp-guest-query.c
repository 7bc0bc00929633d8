/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-guest-query.h"

#include "sp-guest-refresh.h"
#include "sp-libvirt-domain.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"
#include "sp-qemu-proc.h"
#include "sp-str.h"

#include <string.h>

struct _SpGuestQuery {
  GObject parent_instance;

  SpLibvirtLink *link;
  char *procfs_root;
  char *pid_dir; /* of qemu:///system (sp_qemu_proc_pid_dir_for_uri) */

  guint refresh_id; /* a held-off refresh is due */
  gboolean refresh_running;
  gint64 last_start_us; /* monotonic, of the last refresh started; 0: none */
  guint holdoff_ms;     /* between refresh starts; doubles in a storm */
  guint n_waiting;      /* requests since the last refresh started */
  gboolean refresh_again;
  /* What the next refresh queries: every domain when full_refresh, else the
   * domains requests named (UUIDs) and any domain the last list lacked. */
  gboolean full_refresh;
  GHashTable *dirty;
  SpGuests *last;      /* of the last successful refresh or /proc read */
  guint64 generation;  /* of last */
  gboolean qemu_facts; /* read them whatever the URI */
  guint proc_id;
  gboolean proc_running;

  /* healing: a failed refresh (or domain) is retried with backoff, and
   * every domain is queried again every resync_interval_s */
  guint retry_id;
  guint retry_delay_ms; /* the next retry's */
  guint resync_id;
  guint resync_interval_s;     /* 0: none */
  GHashTable *domain_problems; /* UUID -> the message last logged for it */
  guint64 n_started;           /* refreshes started: the serial of the last */

  guint64 n_refreshes;
  guint64 n_queried; /* domains queried by the last refresh */
  GCancellable *cancellable;
  SpLogOnce refresh_problem;
};

enum {
  SIGNAL_REFRESHED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpGuestQuery, sp_guest_query, G_TYPE_OBJECT)

static void schedule_refresh (SpGuestQuery *self);

static gboolean
on_retry_timeout (gpointer user_data)
{
  SpGuestQuery *self = SP_GUEST_QUERY (user_data);

  self->retry_id = 0;
  g_debug ("Retrying the domain refresh");
  schedule_refresh (self);
  return G_SOURCE_REMOVE;
}

/* After a failed refresh (or domain): again after a delay that doubles
 * up to SP_GUEST_QUERY_RETRY_MAX_MS. */
static void
schedule_retry (SpGuestQuery *self)
{
  if (self->retry_id != 0)
    return;
  self->retry_id = g_timeout_add (self->retry_delay_ms, on_retry_timeout, self);
  self->retry_delay_ms = MIN (self->retry_delay_ms * 2, SP_GUEST_QUERY_RETRY_MAX_MS);
}

static void
reset_retry (SpGuestQuery *self)
{
  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->retry_delay_ms = SP_GUEST_QUERY_RETRY_MIN_MS;
}

/* One line per domain that could not be queried (again when its message
 * changes), one when it answers again; it is queried again with backoff. */
static gboolean
note_domain_problems (SpGuestQuery *self, SpGuestRefresh *job)
{
  GHashTableIter iter;
  gpointer key;

  for (guint i = 0; i < job->failed->len; i++)
    {
      const char *entry = g_ptr_array_index (job->failed, i);
      const char *newline = strchr (entry, '\n');
      g_autofree char *uuid = g_strndup (entry, newline - entry);
      const char *message = newline + 1;
      const char *logged = g_hash_table_lookup (self->domain_problems, uuid);
      const SpDomainInfo *kept = sp_guests_find (self->last, uuid);

      if (g_strcmp0 (logged, message) != 0)
        {
          if (kept != NULL)
            g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "SAMEPAGE_DOMAIN", kept->name,
                              "MESSAGE", "Cannot query domain %s: %s; keeping its last facts",
                              kept->name, message);
          else
            g_warning ("Cannot query domain %s: %s; leaving it out until it answers", uuid,
                       message);
          g_hash_table_replace (self->domain_problems, g_strdup (uuid), g_strdup (message));
        }
      g_hash_table_add (self->dirty, g_steal_pointer (&uuid));
    }
  /* the others answer again (or are gone) */
  g_hash_table_iter_init (&iter, self->domain_problems);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      gboolean still = FALSE;

      for (guint i = 0; i < job->failed->len && !still; i++)
        still = g_str_has_prefix (g_ptr_array_index (job->failed, i), key);
      if (still)
        continue;
      for (guint i = 0; i < job->queried->len; i++)
        {
          const SpDomainInfo *d = g_ptr_array_index (job->queried, i);

          if (g_ascii_strcasecmp (d->uuid, key) == 0)
            g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "SAMEPAGE_DOMAIN", d->name,
                              "MESSAGE", "Domain %s answers again", d->name);
        }
      g_hash_table_iter_remove (&iter);
    }
  return job->failed->len > 0;
}

static void
refresh_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpGuestQuery *self = SP_GUEST_QUERY (source);
  SpGuestRefresh *job = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  SpGuests *guests = g_task_propagate_pointer (G_TASK (result), &error);

  self->refresh_running = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->n_refreshes++;

  if (guests == NULL)
    {
      /* the changes this refresh was to pick up are not in self->last */
      self->full_refresh = TRUE;
      if (sp_log_once_changed (&self->refresh_problem, error->message))
        g_warning ("Cannot refresh the domain list: %s; retrying", error->message);
      schedule_retry (self);
    }
  else
    {
      if (sp_log_once_reset (&self->refresh_problem))
        g_message ("Domain list refreshed again");
      /* the connection may have dropped while the refresh ran */
      guests->connected = sp_libvirt_link_is_connected (self->link);
      guests->status = g_strdup (sp_libvirt_link_get_status (self->link));
      self->n_queried = job->n_queried;
      g_debug ("Refreshed %u domain(s), %u active, committed %" G_GUINT64_FORMAT
               " KiB; %u queried%s",
               guests->domains->len, guests->n_active, guests->committed_kib, job->n_queried,
               job->previous == NULL ? " (full)" : "");
      for (guint i = 0; i < job->queried->len; i++)
        sp_guest_refresh_log_domain (g_ptr_array_index (job->queried, i));
      sp_guest_refresh_log_changes (self->last, guests);
      g_clear_pointer (&self->last, sp_guests_unref);
      self->last = guests;
      self->generation++;
      if (note_domain_problems (self, job))
        schedule_retry (self);
      else if (g_hash_table_size (self->domain_problems) == 0)
        reset_retry (self);
      g_signal_emit (self, signals[SIGNAL_REFRESHED], 0, guests);
    }

  /* requests during the refresh: their domains (or a full refresh) next */
  if (self->refresh_again)
    {
      self->refresh_again = FALSE;
      schedule_refresh (self);
    }
}

/* Where QEMU's pid files are for uri, or NULL: no local /proc at all. */
static char *
qemu_pid_dir (SpGuestQuery *self, const char *uri)
{
  if (self->qemu_facts)
    return g_strdup (self->pid_dir);
  return sp_qemu_proc_pid_dir_for_uri (uri, self->pid_dir);
}

static gboolean
wants_qemu_facts (SpGuestQuery *self, const char *uri)
{
  g_autofree char *pid_dir = qemu_pid_dir (self, uri);

  return pid_dir != NULL || self->qemu_facts;
}

static void
start_refresh (SpGuestQuery *self)
{
  g_autoptr (GTask) task = NULL;
  virConnectPtr conn = sp_libvirt_link_ref_connection (self->link);
  const char *uri = sp_libvirt_link_get_uri (self->link);
  SpGuestRefresh *job;

  if (conn == NULL)
    return;
  if (self->refresh_running)
    {
      virConnectClose (conn);
      self->refresh_again = TRUE;
      return;
    }
  job = g_new0 (SpGuestRefresh, 1);
  job->conn = conn;
  job->uri = g_strdup (uri);
  job->procfs_root = g_strdup (self->procfs_root);
  job->pid_dir = qemu_pid_dir (self, uri);
  job->qemu = wants_qemu_facts (self, uri);
  job->serial = ++self->n_started;
  if (self->last != NULL && self->last->refreshed_us != 0 && g_strcmp0 (self->last->uri, uri) == 0)
    {
      job->last = sp_guests_ref (self->last);
      if (!self->full_refresh)
        job->previous = sp_guests_ref (self->last);
    }
  job->dirty = g_steal_pointer (&self->dirty);
  self->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->full_refresh = FALSE;

  /* a storm (SP_GUEST_QUERY_STORM_REQUESTS or more requests waited for
   * this refresh) doubles the hold-off before the next; anything less (one
   * request, or a pair: Started + Resumed, SetMemMerge and its Defined
   * event) resets it */
  if (self->n_waiting >= SP_GUEST_QUERY_STORM_REQUESTS)
    self->holdoff_ms = MIN (self->holdoff_ms * 2, SP_GUEST_QUERY_HOLDOFF_MAX_MS);
  else
    self->holdoff_ms = SP_GUEST_QUERY_HOLDOFF_MIN_MS;
  self->n_waiting = 0;
  self->refresh_running = TRUE;
  self->last_start_us = g_get_monotonic_time ();
  task = g_task_new (self, self->cancellable, refresh_done, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) sp_guest_refresh_free);
  g_task_run_in_thread (task, sp_guest_refresh_thread);
}

static gboolean
on_refresh_timeout (gpointer user_data)
{
  SpGuestQuery *self = SP_GUEST_QUERY (user_data);

  self->refresh_id = 0;
  start_refresh (self);
  return G_SOURCE_REMOVE;
}

/* The leading edge: a request after a quiet hold-off refreshes at once;
 * requests during a refresh fold into one more after it. Refresh starts
 * are at least holdoff_ms apart: a request inside it waits out the rest
 * (see start_refresh for how the hold-off follows a storm). */
static void
schedule_refresh (SpGuestQuery *self)
{
  gint64 since_ms;

  self->n_waiting++;
  if (self->refresh_id != 0)
    return;
  if (self->refresh_running)
    {
      self->refresh_again = TRUE;
      return;
    }
  since_ms = self->last_start_us == 0 ? G_MAXINT64
                                      : (g_get_monotonic_time () - self->last_start_us) / 1000;
  if (since_ms >= self->holdoff_ms)
    {
      start_refresh (self);
      return;
    }
  self->refresh_id =
      g_timeout_add ((guint) MAX (self->holdoff_ms - since_ms, 0), on_refresh_timeout, self);
}

/* ---- QEMU's /proc facts between refreshes (worker thread) ------------- */

typedef struct {
  SpGuests *base;
  char *procfs_root;
  char *pid_dir;
  guint64 generation; /* of base */
} ProcJob;

static void
proc_job_free (ProcJob *job)
{
  sp_guests_unref (job->base);
  g_free (job->procfs_root);
  g_free (job->pid_dir);
  g_free (job);
}

static void
proc_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ProcJob *job = task_data;

  g_task_return_pointer (task,
                         sp_qemu_proc_update_guests (job->base, job->procfs_root, job->pid_dir),
                         (GDestroyNotify) sp_guests_unref);
}

/* A refresh to come reads /proc itself, and one since the read began
 * makes it stale. Waiting for the refresh also keeps a /proc update from
 * passing for the refresh a caller (SetMemMerge) waits for. */
static gboolean
refresh_pending (SpGuestQuery *self)
{
  return self->refresh_id != 0 || self->refresh_running || self->refresh_again;
}

static void
proc_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpGuestQuery *self = SP_GUEST_QUERY (source);
  ProcJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  SpGuests *fresh = g_task_propagate_pointer (G_TASK (result), &error);

  self->proc_running = FALSE;
  if (fresh == NULL)
    return; /* nothing changed, or cancelled */
  if (job->generation != self->generation || refresh_pending (self))
    {
      sp_guests_unref (fresh);
      return;
    }
  fresh->connected = sp_libvirt_link_is_connected (self->link);
  g_free (fresh->status);
  fresh->status = g_strdup (sp_libvirt_link_get_status (self->link));
  g_debug ("QEMU's KSM facts changed with no libvirt event; committed %" G_GUINT64_FORMAT " KiB",
           fresh->committed_kib);
  g_clear_pointer (&self->last, sp_guests_unref);
  self->last = fresh;
  self->generation++;
  g_signal_emit (self, signals[SIGNAL_REFRESHED], 0, fresh);
}

static gboolean
on_proc_timeout (gpointer user_data)
{
  SpGuestQuery *self = SP_GUEST_QUERY (user_data);
  g_autoptr (GTask) task = NULL;
  ProcJob *job;

  if (self->proc_running || self->last == NULL || refresh_pending (self) ||
      !wants_qemu_facts (self, self->last->uri))
    return G_SOURCE_CONTINUE;
  job = g_new0 (ProcJob, 1);
  job->base = sp_guests_ref (self->last);
  job->procfs_root = g_strdup (self->procfs_root);
  job->pid_dir = qemu_pid_dir (self, self->last->uri);
  job->generation = self->generation;
  self->proc_running = TRUE;
  task = g_task_new (self, self->cancellable, proc_done, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) proc_job_free);
  g_task_run_in_thread (task, proc_thread);
  return G_SOURCE_CONTINUE;
}

void
sp_guest_query_set_qemu_facts_always (SpGuestQuery *self, gboolean always)
{
  g_return_if_fail (SP_IS_GUEST_QUERY (self));
  self->qemu_facts = always;
}

void
sp_guest_query_queue_full (SpGuestQuery *self)
{
  g_return_if_fail (SP_IS_GUEST_QUERY (self));

  self->full_refresh = TRUE;
  schedule_refresh (self);
}

void
sp_guest_query_queue_domain (SpGuestQuery *self, const char *uuid)
{
  g_return_if_fail (SP_IS_GUEST_QUERY (self));
  g_return_if_fail (uuid != NULL);

  g_hash_table_add (self->dirty, g_ascii_strdown (uuid, -1));
  schedule_refresh (self);
}

static gboolean
on_resync_timeout (gpointer user_data)
{
  SpGuestQuery *self = SP_GUEST_QUERY (user_data);

  g_debug ("Resyncing the domain list (every %u s)", self->resync_interval_s);
  sp_guest_query_queue_full (self);
  return G_SOURCE_CONTINUE;
}

void
sp_guest_query_set_resync_interval (SpGuestQuery *self, guint seconds)
{
  g_return_if_fail (SP_IS_GUEST_QUERY (self));

  if (seconds == self->resync_interval_s && (seconds == 0 || self->resync_id != 0))
    return;
  g_clear_handle_id (&self->resync_id, g_source_remove);
  self->resync_interval_s = seconds;
  if (seconds > 0)
    self->resync_id = g_timeout_add_seconds (seconds, on_resync_timeout, self);
}

guint64
sp_guest_query_get_next_serial (SpGuestQuery *self)
{
  g_return_val_if_fail (SP_IS_GUEST_QUERY (self), 0);
  return self->n_started + 1;
}

SpGuests *
sp_guest_query_get_last (SpGuestQuery *self)
{
  g_return_val_if_fail (SP_IS_GUEST_QUERY (self), NULL);
  return self->last;
}

guint64
sp_guest_query_get_n_refreshes (SpGuestQuery *self)
{
  g_return_val_if_fail (SP_IS_GUEST_QUERY (self), 0);
  return self->n_refreshes;
}

guint64
sp_guest_query_get_n_queried (SpGuestQuery *self)
{
  g_return_val_if_fail (SP_IS_GUEST_QUERY (self), 0);
  return self->n_queried;
}

/* ---- object ------------------------------------------------------------ */

static void
sp_guest_query_dispose (GObject *object)
{
  SpGuestQuery *self = SP_GUEST_QUERY (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_clear_handle_id (&self->proc_id, g_source_remove);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->resync_id, g_source_remove);
  G_OBJECT_CLASS (sp_guest_query_parent_class)->dispose (object);
}

static void
sp_guest_query_finalize (GObject *object)
{
  SpGuestQuery *self = SP_GUEST_QUERY (object);

  g_clear_object (&self->link);
  g_free (self->procfs_root);
  g_free (self->pid_dir);
  g_clear_pointer (&self->last, sp_guests_unref);
  g_clear_pointer (&self->dirty, g_hash_table_unref);
  g_clear_pointer (&self->domain_problems, g_hash_table_unref);
  g_clear_object (&self->cancellable);
  sp_log_once_reset (&self->refresh_problem);
  G_OBJECT_CLASS (sp_guest_query_parent_class)->finalize (object);
}

static void
sp_guest_query_class_init (SpGuestQueryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_guest_query_dispose;
  object_class->finalize = sp_guest_query_finalize;

  /**
   * SpGuestQuery::refreshed:
   * @guests: (type gpointer): the new SpGuests
   */
  signals[SIGNAL_REFRESHED] =
      g_signal_new ("refreshed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                    G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
sp_guest_query_init (SpGuestQuery *self)
{
  self->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->domain_problems = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->retry_delay_ms = SP_GUEST_QUERY_RETRY_MIN_MS;
  self->holdoff_ms = SP_GUEST_QUERY_HOLDOFF_MIN_MS;
  self->cancellable = g_cancellable_new ();
  self->proc_id = g_timeout_add_seconds (SP_GUEST_QUERY_PROC_INTERVAL_S, on_proc_timeout, self);
}

SpGuestQuery *
sp_guest_query_new (SpLibvirtLink *link, const char *procfs_root, const char *pid_dir)
{
  SpGuestQuery *self;

  g_return_val_if_fail (SP_IS_LIBVIRT_LINK (link), NULL);

  self = g_object_new (SP_TYPE_GUEST_QUERY, NULL);
  self->link = g_object_ref (link);
  self->procfs_root = g_strdup (procfs_root ? procfs_root : "/proc");
  self->pid_dir = g_strdup (pid_dir);
  return self;
}
