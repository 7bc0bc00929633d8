/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-guest-refresh.h"

#include "sp-libvirt-domain.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"
#include "sp-qemu-proc.h"
#include "sp-str.h"

G_LOCK_DEFINE_STATIC (test_hook);
static SpGuestRefreshTestHook test_hook;
static gpointer test_hook_data;

void
sp_guest_refresh_set_test_hook (SpGuestRefreshTestHook hook, gpointer user_data)
{
  G_LOCK (test_hook);
  test_hook = hook;
  test_hook_data = user_data;
  G_UNLOCK (test_hook);
}

/* FALSE (and error set) when a test makes this step fail. */
static gboolean
run_test_hook (virDomainPtr dom, GError **error)
{
  SpGuestRefreshTestHook hook;
  gpointer data;

  G_LOCK (test_hook);
  hook = test_hook;
  data = test_hook_data;
  G_UNLOCK (test_hook);
  return hook == NULL || hook (dom, error, data);
}

void
sp_guest_refresh_free (SpGuestRefresh *job)
{
  if (job->conn != NULL)
    virConnectClose (job->conn);
  g_free (job->uri);
  g_free (job->procfs_root);
  g_free (job->pid_dir);
  g_clear_pointer (&job->previous, sp_guests_unref);
  g_clear_pointer (&job->last, sp_guests_unref);
  g_clear_pointer (&job->dirty, g_hash_table_unref);
  g_clear_pointer (&job->queried, g_ptr_array_unref);
  g_clear_pointer (&job->failed, g_ptr_array_unref);
  g_free (job);
}

/* The UUID of dom, or NULL when libvirt cannot say (the domain is queried). */
static const char *
domain_uuid (virDomainPtr dom, char buf[VIR_UUID_STRING_BUFLEN])
{
  return virDomainGetUUIDString (dom, buf) == 0 ? buf : NULL;
}

/* UUID -> SpDomainInfo* (borrowed from guests) */
static GHashTable *
index_by_uuid (const SpGuests *guests)
{
  GHashTable *table = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; guests != NULL && i < guests->domains->len; i++)
    {
      SpDomainInfo *d = g_ptr_array_index (guests->domains, i);
      g_hash_table_insert (table, d->uuid, d);
    }
  return table;
}

/* A copy of facts libvirt told before, with QEMU's /proc facts read again
 * (no event tells how much a guest merges: /proc, no RPC). */
static SpDomainInfo *
keep_domain (SpGuestRefresh *job, const SpDomainInfo *kept)
{
  SpDomainInfo *copy = sp_domain_info_copy (kept);

  if (copy->active && job->qemu)
    {
      sp_qemu_proc_read_facts (job->procfs_root, job->pid_dir, copy);
      sp_qemu_proc_follow_mergeable (copy);
    }
  return copy;
}

static SpDomainInfo *
query_domain (SpGuestRefresh *job, virDomainPtr dom, GHashTable *balloon, GError **error)
{
  SpDomainInfo *info;

  if (!run_test_hook (dom, error))
    return NULL;
  info = sp_libvirt_domain_query (dom, balloon, error);
  if (info != NULL && info->active && job->qemu)
    {
      sp_qemu_proc_read_facts (job->procfs_root, job->pid_dir, info);
      sp_qemu_proc_follow_mergeable (info);
    }
  return info;
}

/*
 * A full refresh queries every domain: 3 to 5 RPCs and 1 or 2 XML parses
 * each, linear in the number of domains. An incremental one (job->previous
 * set) lists the domains (one RPC), keeps the previous libvirt facts of
 * every domain no event named since, and queries only the named and the new
 * ones. Events name every change samepaged reads from libvirt (lifecycle,
 * define, balloon, devices, metadata), so the kept facts are current; what
 * events cannot cover, a reconnection or a failed refresh, asks for a full
 * one, and a full one runs every resync interval anyway. How much a running
 * guest merges changes with no event: its /proc facts are read again for
 * every active domain, kept ones included (file reads, no RPC).
 *
 * A domain whose query fails (other than by being undefined meanwhile)
 * does not fail the refresh: it keeps its last facts (or is left out when
 * it has none yet) and is named in job->failed, to be queried again.
 */
void
sp_guest_refresh_thread (GTask *task, gpointer source, gpointer task_data,
                         GCancellable *cancellable)
{
  SpGuestRefresh *job = task_data;
  g_autoptr (SpGuests) guests = sp_guests_new ();
  g_autoptr (GHashTable) balloon = NULL;
  g_autoptr (GHashTable) last = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree virDomainPtr *query = NULL;
  virDomainPtr *doms = NULL;
  guint n_query = 0;
  int n;

  if (!run_test_hook (NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  n = virConnectListAllDomains (job->conn, &doms, 0);
  if (n < 0)
    {
      sp_libvirt_set_error (&error, "Cannot list domains");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  query = g_new0 (virDomainPtr, n + 1);
  last = index_by_uuid (job->last);
  for (int i = 0; i < n; i++)
    {
      char buf[VIR_UUID_STRING_BUFLEN];
      const char *uuid = domain_uuid (doms[i], buf);
      const SpDomainInfo *kept = NULL;

      if (job->previous != NULL && uuid != NULL && !g_hash_table_contains (job->dirty, uuid))
        kept = g_hash_table_lookup (last, uuid);
      if (kept != NULL)
        g_ptr_array_add (guests->domains, keep_domain (job, kept));
      else
        query[n_query++] = doms[i];
    }

  balloon =
      sp_libvirt_domain_balloon_stats (job->conn, job->previous != NULL ? query : NULL, &error);
  job->queried = g_ptr_array_new ();
  job->failed = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; balloon != NULL && i < n_query; i++)
    {
      g_autoptr (GError) local_error = NULL;
      SpDomainInfo *info = query_domain (job, query[i], balloon, &local_error);
      char buf[VIR_UUID_STRING_BUFLEN];
      const char *uuid;
      const SpDomainInfo *kept;

      if (info != NULL)
        {
          g_ptr_array_add (guests->domains, info);
          g_ptr_array_add (job->queried, info);
          continue;
        }
      /* a domain undefined during the refresh is not a failure */
      if (virDomainIsActive (query[i]) < 0 && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN)
        continue;
      /* nor one domain that does not answer: the others are published, it
       * keeps what was known of it and is queried again */
      uuid = domain_uuid (query[i], buf);
      if (uuid == NULL)
        continue;
      g_ptr_array_add (job->failed, g_strconcat (uuid, "\n", local_error->message, NULL));
      kept = g_hash_table_lookup (last, uuid);
      if (kept != NULL)
        g_ptr_array_add (guests->domains, keep_domain (job, kept));
    }
  job->n_queried = n_query;
  for (int i = 0; i < n; i++)
    virDomainFree (doms[i]);
  free (doms);
  if (error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  guests->uri = g_strdup (job->uri);
  guests->connected = TRUE;
  guests->refreshed_us = g_get_monotonic_time ();
  guests->refresh_serial = job->serial;
  sp_guests_finish (guests);
  g_task_return_pointer (task, g_steal_pointer (&guests), (GDestroyNotify) sp_guests_unref);
}

/* One line per domain at debug level: what the refresh found. */
void
sp_guest_refresh_log_domain (const SpDomainInfo *d)
{
  sp_log_domain (G_LOG_LEVEL_DEBUG, d->name, d->uuid,
                 "Domain %s: %s, %" G_GUINT64_FORMAT " KiB from %s, %s, QEMU pid %" G_GINT64_FORMAT
                 ", ksm_mergeable %s, merging pages %" G_GINT64_FORMAT,
                 d->name, d->active ? "active" : "inactive", d->current_kib, d->memory_source,
                 d->mergeable ? "mergeable" : d->unmergeable_reason, d->pid,
                 sp_ksm_mergeable_to_string (d->ksm_mergeable), d->ksm_merging_pages);
}

/* What a domain brings to committed memory, for a log line. */
static char *
describe_memory (const SpDomainInfo *d)
{
  g_autofree char *size = sp_format_kib ((gint64) d->current_kib);

  if (d->mergeable)
    return g_strdup_printf ("%s, mergeable", size);
  return g_strdup_printf ("%s, not mergeable: %s", size, d->unmergeable_reason);
}

/* One info line per domain whose life changed since the last refresh
 * (started, stopped, undefined, memory resized): the story of each domain
 * in the journal, under SAMEPAGE_DOMAIN=<name>. */
void
sp_guest_refresh_log_changes (const SpGuests *previous, const SpGuests *guests)
{
  for (guint i = 0; i < guests->domains->len; i++)
    {
      const SpDomainInfo *d = g_ptr_array_index (guests->domains, i);
      const char *key = d->uuid != NULL ? d->uuid : d->name;
      const SpDomainInfo *old = previous != NULL ? sp_guests_find (previous, key) : NULL;
      g_autofree char *memory = describe_memory (d);

      if (old == NULL && d->active)
        sp_log_domain (G_LOG_LEVEL_INFO, d->name, d->uuid, "Domain %s %s: %s", d->name,
                       previous != NULL ? "started" : "is running", memory);
      else if (old == NULL && previous != NULL)
        sp_log_domain (G_LOG_LEVEL_INFO, d->name, d->uuid, "Domain %s defined", d->name);
      else if (old != NULL && d->active && !old->active)
        sp_log_domain (G_LOG_LEVEL_INFO, d->name, d->uuid, "Domain %s started: %s", d->name,
                       memory);
      else if (old != NULL && !d->active && old->active)
        sp_log_domain (G_LOG_LEVEL_INFO, d->name, d->uuid, "Domain %s stopped", d->name);
      else if (old != NULL && d->active && old->current_kib != d->current_kib)
        {
          g_autofree char *from = sp_format_kib ((gint64) old->current_kib);

          sp_log_domain (G_LOG_LEVEL_INFO, d->name, d->uuid, "Domain %s memory: %s → %s", d->name,
                         from, memory);
        }
    }
  for (guint i = 0; previous != NULL && i < previous->domains->len; i++)
    {
      const SpDomainInfo *old = g_ptr_array_index (previous->domains, i);

      if (sp_guests_find (guests, old->uuid != NULL ? old->uuid : old->name) == NULL)
        sp_log_domain (G_LOG_LEVEL_INFO, old->name, old->uuid, "Domain %s undefined", old->name);
    }
}
