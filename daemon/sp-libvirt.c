/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-libvirt.h"

#include <libvirt-glib/libvirt-glib.h>

#include "sp-domain-xml.h"
#include "sp-error.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"
#include "sp-procfs.h"

#define BACKOFF_MIN_MS 500
/* Reconnecting is a failed connect(2) on a local socket while libvirtd is
 * down: cheap. A 2 s cap gets samepaged back within 2 s of libvirtd
 * answering again, however long it was away. */
#define BACKOFF_MAX_MS 2000
#define SYSTEM_RETRY_S 30
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 3

typedef struct _SpLink SpLink;

struct _SpLibvirt {
  GObject parent_instance;

  char *requested_uri; /* NULL: auto */
  char *procfs_root;
  char *pid_dir;

  GMutex lock;        /* guards conn for sp_libvirt_ref_connection() */
  virConnectPtr conn; /* == link->conn; NULL while disconnected */
  SpLink *link;
  char *uri; /* the URI of conn, or of the last attempt */
  gboolean embedded_fallback;

  gboolean connecting;
  guint reconnect_id;
  guint system_retry_id;
  guint backoff_ms;
  char *status;

  guint refresh_id;
  gboolean refresh_running;
  gboolean refresh_again;
  /* What the next refresh queries: every domain when full_refresh, else the
   * domains events named (UUIDs) and any domain the last list lacked. */
  gboolean full_refresh;
  GHashTable *dirty;
  SpGuests *guests;

  guint64 n_events;
  guint64 n_refreshes;
  guint64 n_queried; /* domains queried by the last refresh */
  GCancellable *cancellable;
  SpLogOnce connect_problem;
  SpLogOnce refresh_problem;
};

enum {
  SIGNAL_GUESTS_CHANGED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpLibvirt, sp_libvirt, G_TYPE_OBJECT)

/*
 * One open connection with its event registrations. Opening, registering,
 * deregistering and closing are RPCs, so they all run in worker threads; the
 * callbacks run on the main loop and reach the watcher through link->owner,
 * which only the main thread sets and clears.
 */
struct _SpLink {
  SpLibvirt *owner; /* NULL once the watcher dropped this link */
  virConnectPtr conn;
  GArray *callback_ids;
  gboolean close_registered;
  gint close_ref_released; /* atomic: the close callback's freecb ran */
};

static SpLink *
sp_link_ref (SpLink *link)
{
  return g_atomic_rc_box_acquire (link);
}

static void
sp_link_clear (SpLink *link)
{
  if (link->conn != NULL)
    virConnectClose (link->conn);
  g_array_unref (link->callback_ids);
}

static void
sp_link_unref (gpointer link)
{
  g_atomic_rc_box_release_full (link, (GDestroyNotify) sp_link_clear);
}

/* The freecb of the close callback's reference. */
static void
sp_link_close_ref_free (gpointer data)
{
  SpLink *link = data;

  g_atomic_int_set (&link->close_ref_released, TRUE);
  sp_link_unref (link);
}

static void connect_async (SpLibvirt *self, const char *uri, gboolean system_probe);
static void disconnect (SpLibvirt *self);

/* ---- publishing ------------------------------------------------------- */

static void
publish (SpLibvirt *self, SpGuests *fresh)
{
  g_clear_pointer (&self->guests, sp_guests_unref);
  self->guests = fresh;
  g_signal_emit (self, signals[SIGNAL_GUESTS_CHANGED], 0, self->guests);
}

/* Republishes the last known domains with the connection state changed. */
static void
publish_state (SpLibvirt *self)
{
  SpGuests *g = sp_guests_new ();

  for (guint i = 0; i < self->guests->domains->len; i++)
    g_ptr_array_add (g->domains,
                     sp_domain_info_copy (g_ptr_array_index (self->guests->domains, i)));
  g->uri = g_strdup (self->uri);
  g->connected = self->conn != NULL;
  g->status = g_strdup (self->status);
  g->refreshed_us = self->guests->refreshed_us;
  sp_guests_finish (g);
  publish (self, g);
}

static void
set_status (SpLibvirt *self, const char *status)
{
  g_free (self->status);
  self->status = g_strdup (status);
}

/* ---- refresh (worker thread) ----------------------------------------- */

typedef struct {
  virConnectPtr conn;
  char *uri;
  char *procfs_root;
  char *pid_dir;
  gboolean qemu; /* look for QEMU processes and their ksm_stat */
  /* incremental: the last published domains, kept unless dirty (NULL: full) */
  SpGuests *previous;
  GHashTable *dirty;
  guint n_queried;    /* out */
  GPtrArray *queried; /* out: SpDomainInfo* (borrowed from the result) */
} RefreshJob;

static void
refresh_job_free (RefreshJob *job)
{
  if (job->conn != NULL)
    virConnectClose (job->conn);
  g_free (job->uri);
  g_free (job->procfs_root);
  g_free (job->pid_dir);
  g_clear_pointer (&job->previous, sp_guests_unref);
  g_clear_pointer (&job->dirty, g_hash_table_unref);
  g_clear_pointer (&job->queried, g_ptr_array_unref);
  g_free (job);
}

typedef struct {
  char uuid[VIR_UUID_STRING_BUFLEN];
  gboolean has_current;
  guint64 current_kib;
  gboolean has_maximum;
  guint64 maximum_kib;
} BalloonStats;

/* Balloon stats by UUID: of every active domain (doms NULL), else of doms
 * (NULL-terminated; a refresh uses them for active domains only). */
static GHashTable *
collect_balloon_stats (virConnectPtr conn, virDomainPtr *doms, GError **error)
{
  g_autoptr (GHashTable) table = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  virDomainStatsRecordPtr *records = NULL;
  const unsigned int stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BALLOON;
  int n;

  if (doms == NULL)
    n = virConnectGetAllDomainStats (conn, stats, &records,
                                     VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
  else if (doms[0] == NULL)
    return g_steal_pointer (&table);
  else
    {
      n = virDomainListGetStats (doms, stats, &records, 0);
      /* one of doms went away meanwhile: all active ones, as a full refresh */
      if (n < 0)
        n = virConnectGetAllDomainStats (conn, stats, &records,
                                         VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    }
  if (n < 0)
    {
      sp_libvirt_set_error (error, "Cannot get domain stats");
      return NULL;
    }
  for (int i = 0; i < n; i++)
    {
      BalloonStats *b = g_new0 (BalloonStats, 1);
      unsigned long long value;

      if (virDomainGetUUIDString (records[i]->dom, b->uuid) < 0)
        {
          g_free (b);
          continue;
        }
      if (virTypedParamsGetULLong (records[i]->params, records[i]->nparams, "balloon.current",
                                   &value) == 1)
        {
          b->has_current = TRUE;
          b->current_kib = value;
        }
      if (virTypedParamsGetULLong (records[i]->params, records[i]->nparams, "balloon.maximum",
                                   &value) == 1)
        {
          b->has_maximum = TRUE;
          b->maximum_kib = value;
        }
      g_hash_table_insert (table, b->uuid, b);
    }
  virDomainStatsRecordListFree (records);
  return g_steal_pointer (&table);
}

static gboolean
domain_facts (virDomainPtr dom, unsigned int flags, SpDomainXmlFacts *facts, GError **error)
{
  /* the name first: virDomainGetName() resets libvirt's last error */
  const char *name = virDomainGetName (dom);
  g_autofree char *xml = virDomainGetXMLDesc (dom, flags);

  if (xml == NULL)
    {
      sp_libvirt_set_error (error, "Cannot get the XML of domain %s", name);
      return FALSE;
    }
  if (!sp_domain_xml_parse (xml, facts, error))
    {
      g_prefix_error (error, "Domain %s: ", name);
      return FALSE;
    }
  return TRUE;
}

static void
fill_ksm_facts (const RefreshJob *job, SpDomainInfo *info)
{
  g_autoptr (GError) error = NULL;
  SpKsmProcStat stat;

  /* a kept domain's old facts go: the process may have changed or gone */
  info->ksm_stat_present = FALSE;
  info->ksm_merging_pages = 0;
  info->ksm_zero_pages = 0;
  info->ksm_process_profit = 0;
  info->ksm_mergeable = SP_KSM_MERGEABLE_UNKNOWN;
  info->pid = sp_qemu_find_pid (job->procfs_root, job->pid_dir, info->name, info->uuid);
  if (info->pid <= 0)
    return;
  if (!sp_ksm_proc_stat_read (job->procfs_root, info->pid, &stat, &error))
    {
      g_debug ("No KSM facts for domain %s (pid %" G_GINT64_FORMAT "): %s", info->name, info->pid,
               error->message);
      return;
    }
  info->ksm_stat_present = stat.present;
  info->ksm_merging_pages = MAX (stat.merging_pages, 0);
  info->ksm_zero_pages = MAX (stat.zero_pages, 0);
  info->ksm_process_profit = stat.process_profit;
  info->ksm_mergeable = stat.mergeable;
}

static SpDomainInfo *
domain_info (const RefreshJob *job, virDomainPtr dom, GHashTable *balloon, GError **error)
{
  g_autoptr (SpDomainInfo) info = sp_domain_info_new ();
  g_auto (SpDomainXmlFacts) live = { 0 };
  g_auto (SpDomainXmlFacts) config = { 0 };
  char uuid[VIR_UUID_STRING_BUFLEN];
  const BalloonStats *b;
  const char *reason;
  /* the name first: virDomainGetName() resets libvirt's last error */
  const char *name = virDomainGetName (dom);
  int active = virDomainIsActive (dom);
  int persistent = virDomainIsPersistent (dom);

  if (active < 0 || persistent < 0 || virDomainGetUUIDString (dom, uuid) < 0)
    {
      sp_libvirt_set_error (error, "Cannot query domain %s", name);
      return NULL;
    }
  info->name = g_strdup (name);
  info->uuid = g_strdup (uuid);
  info->active = active == 1;
  info->persistent = persistent == 1;

  if (!domain_facts (dom, 0, &live, error))
    return NULL;
  if (info->persistent && !domain_facts (dom, VIR_DOMAIN_XML_INACTIVE, &config, error))
    return NULL;

  info->mem_merge = !(info->persistent ? config.nosharepages : live.nosharepages);
  info->mem_merge_active = info->active ? !live.nosharepages : info->mem_merge;
  info->pending_restart = info->active && info->mem_merge != info->mem_merge_active;

  /* memory: balloon.current, else virDomainGetInfo, else the XML */
  b = info->active ? g_hash_table_lookup (balloon, uuid) : NULL;
  info->maximum_kib = live.memory_kib;
  if (b != NULL && b->has_current)
    {
      info->current_kib = b->current_kib;
      info->memory_source = g_strdup ("balloon");
      if (b->has_maximum)
        info->maximum_kib = b->maximum_kib;
    }
  else
    {
      virDomainInfo vinfo;

      if (info->active && virDomainGetInfo (dom, &vinfo) == 0)
        {
          info->current_kib = vinfo.memory;
          info->maximum_kib = vinfo.maxMem;
          info->memory_source = g_strdup ("info");
        }
      else
        {
          info->current_kib = live.current_memory_kib;
          info->memory_source = g_strdup ("xml");
        }
    }

  if (info->active && job->qemu)
    fill_ksm_facts (job, info);

  /* what the running guest can merge: its live XML; else its config */
  reason = sp_domain_xml_unmergeable_reason (info->active ? &live
                                                          : (info->persistent ? &config : &live));
  if (reason == NULL && info->ksm_mergeable == SP_KSM_MERGEABLE_NO)
    reason = "QEMU reports ksm_mergeable: no";
  info->mergeable = reason == NULL;
  info->unmergeable_reason = g_strdup (reason);
  return g_steal_pointer (&info);
}

/* The UUID of dom, or NULL when libvirt cannot say (the domain is queried). */
static const char *
domain_uuid (virDomainPtr dom, char buf[VIR_UUID_STRING_BUFLEN])
{
  return virDomainGetUUIDString (dom, buf) == 0 ? buf : NULL;
}

/*
 * A full refresh queries every domain: 3 to 5 RPCs and 1 or 2 XML parses
 * each, linear in the number of domains. An incremental one (job->previous
 * set) lists the domains (one RPC), keeps the previous libvirt facts of
 * every domain no event named since, and queries only the named and the new
 * ones. Events name every change samepaged reads from libvirt (lifecycle,
 * define, balloon, devices, metadata), so the kept facts are current; what
 * events cannot cover, a reconnection or a failed refresh, asks for a full
 * one. How much a running guest merges changes with no event: its /proc
 * facts are read again for every active domain, kept ones included (file
 * reads, no RPC).
 */
static void
refresh_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  RefreshJob *job = task_data;
  g_autoptr (SpGuests) guests = sp_guests_new ();
  g_autoptr (GHashTable) balloon = NULL;
  g_autoptr (GHashTable) previous = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree virDomainPtr *query = NULL;
  virDomainPtr *doms = NULL;
  guint n_query = 0;
  int n;

  n = virConnectListAllDomains (job->conn, &doms, 0);
  if (n < 0)
    {
      sp_libvirt_set_error (&error, "Cannot list domains");
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  query = g_new0 (virDomainPtr, n + 1);
  if (job->previous != NULL)
    {
      previous = g_hash_table_new (g_str_hash, g_str_equal);
      for (guint i = 0; i < job->previous->domains->len; i++)
        {
          SpDomainInfo *d = g_ptr_array_index (job->previous->domains, i);
          g_hash_table_insert (previous, d->uuid, d);
        }
    }
  for (int i = 0; i < n; i++)
    {
      char buf[VIR_UUID_STRING_BUFLEN];
      const char *uuid = domain_uuid (doms[i], buf);
      const SpDomainInfo *kept = NULL;

      if (previous != NULL && uuid != NULL && !g_hash_table_contains (job->dirty, uuid))
        kept = g_hash_table_lookup (previous, uuid);
      if (kept != NULL)
        {
          SpDomainInfo *copy = sp_domain_info_copy (kept);

          /* no event tells how much a guest merges: /proc, no RPC */
          if (copy->active && job->qemu)
            fill_ksm_facts (job, copy);
          g_ptr_array_add (guests->domains, copy);
        }
      else
        query[n_query++] = doms[i];
    }

  balloon = collect_balloon_stats (job->conn, previous != NULL ? query : NULL, &error);
  job->queried = g_ptr_array_new ();
  for (guint i = 0; balloon != NULL && i < n_query; i++)
    {
      g_autoptr (GError) local_error = NULL;
      SpDomainInfo *info = domain_info (job, query[i], balloon, &local_error);

      if (info != NULL)
        {
          g_ptr_array_add (guests->domains, info);
          g_ptr_array_add (job->queried, info);
          continue;
        }
      /* a domain undefined during the refresh is not a failure */
      if (virDomainIsActive (query[i]) < 0 && virGetLastErrorCode () == VIR_ERR_NO_DOMAIN)
        continue;
      error = g_steal_pointer (&local_error);
      break;
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
  sp_guests_finish (guests);
  g_task_return_pointer (task, g_steal_pointer (&guests), (GDestroyNotify) sp_guests_unref);
}

static void start_refresh (SpLibvirt *self);

/* One line per domain at debug level: what the refresh found. */
static void
log_domain (const SpDomainInfo *d)
{
  g_debug ("Domain %s: %s, %" G_GUINT64_FORMAT " KiB from %s, %s, QEMU pid %" G_GINT64_FORMAT
           ", ksm_mergeable %s, merging pages %" G_GINT64_FORMAT,
           d->name, d->active ? "active" : "inactive", d->current_kib, d->memory_source,
           d->mergeable ? "mergeable" : d->unmergeable_reason, d->pid,
           sp_ksm_mergeable_to_string (d->ksm_mergeable), d->ksm_merging_pages);
}

static void schedule_refresh (SpLibvirt *self);

static void
refresh_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (source);
  RefreshJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  SpGuests *guests = g_task_propagate_pointer (G_TASK (result), &error);

  self->refresh_running = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->n_refreshes++;

  if (guests == NULL)
    {
      /* the changes this refresh was to pick up are not in self->guests */
      self->full_refresh = TRUE;
      if (sp_log_once_changed (&self->refresh_problem, error->message))
        g_warning ("Cannot refresh the domain list: %s", error->message);
    }
  else
    {
      if (sp_log_once_reset (&self->refresh_problem))
        g_message ("Domain list refreshed again");
      /* the connection may have dropped while the refresh ran */
      guests->connected = self->conn != NULL;
      guests->status = g_strdup (self->status);
      self->n_queried = job->n_queried;
      g_debug ("Refreshed %u domain(s), %u active, committed %" G_GUINT64_FORMAT
               " KiB; %u queried%s",
               guests->domains->len, guests->n_active, guests->committed_kib, job->n_queried,
               job->previous == NULL ? " (full)" : "");
      for (guint i = 0; i < job->queried->len; i++)
        log_domain (g_ptr_array_index (job->queried, i));
      publish (self, guests);
    }

  /* events during the refresh: their domains (or a full refresh) next */
  if (self->refresh_again)
    {
      self->refresh_again = FALSE;
      schedule_refresh (self);
    }
}

static void
start_refresh (SpLibvirt *self)
{
  g_autoptr (GTask) task = NULL;
  RefreshJob *job;

  if (self->conn == NULL)
    return;
  if (self->refresh_running)
    {
      self->refresh_again = TRUE;
      return;
    }
  job = g_new0 (RefreshJob, 1);
  job->conn = self->conn;
  virConnectRef (job->conn);
  job->uri = g_strdup (self->uri);
  job->procfs_root = g_strdup (self->procfs_root);
  job->pid_dir = g_strdup (self->pid_dir);
  job->qemu = g_str_has_prefix (self->uri, "qemu");
  if (!self->full_refresh && self->guests != NULL && self->guests->refreshed_us != 0 &&
      g_strcmp0 (self->guests->uri, self->uri) == 0)
    job->previous = sp_guests_ref (self->guests);
  job->dirty = g_steal_pointer (&self->dirty);
  self->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->full_refresh = FALSE;

  self->refresh_running = TRUE;
  task = g_task_new (self, self->cancellable, refresh_done, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) refresh_job_free);
  g_task_run_in_thread (task, refresh_thread);
}

static gboolean
on_refresh_timeout (gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (user_data);

  self->refresh_id = 0;
  start_refresh (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_refresh (SpLibvirt *self)
{
  if (self->refresh_id != 0)
    return;
  if (self->refresh_running)
    {
      self->refresh_again = TRUE;
      return;
    }
  self->refresh_id = g_timeout_add (SP_LIBVIRT_DEBOUNCE_MS, on_refresh_timeout, self);
}

void
sp_libvirt_queue_refresh (SpLibvirt *self)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));

  self->full_refresh = TRUE;
  schedule_refresh (self);
}

void
sp_libvirt_queue_refresh_domain (SpLibvirt *self, const char *uuid)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  g_return_if_fail (uuid != NULL);

  g_hash_table_add (self->dirty, g_ascii_strdown (uuid, -1));
  schedule_refresh (self);
}

/* ---- events (main thread) --------------------------------------------- */

static void
domain_event (SpLink *link, virDomainPtr dom, const char *what)
{
  SpLibvirt *self = link->owner;
  char buf[VIR_UUID_STRING_BUFLEN];
  const char *uuid;

  if (self == NULL)
    return;
  self->n_events++;
  g_debug ("libvirt event: domain %s %s", virDomainGetName (dom), what);
  uuid = domain_uuid (dom, buf);
  if (uuid != NULL)
    sp_libvirt_queue_refresh_domain (self, uuid);
  else
    sp_libvirt_queue_refresh (self);
}

static const char *
lifecycle_name (int event)
{
  switch (event)
    {
    case VIR_DOMAIN_EVENT_DEFINED:
      return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED:
      return "undefined";
    case VIR_DOMAIN_EVENT_STARTED:
      return "started";
    case VIR_DOMAIN_EVENT_SUSPENDED:
      return "suspended";
    case VIR_DOMAIN_EVENT_RESUMED:
      return "resumed";
    case VIR_DOMAIN_EVENT_STOPPED:
      return "stopped";
    case VIR_DOMAIN_EVENT_SHUTDOWN:
      return "shutdown";
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
      return "pmsuspended";
    case VIR_DOMAIN_EVENT_CRASHED:
      return "crashed";
    default:
      return "lifecycle";
    }
}

static int
on_lifecycle (virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  domain_event (opaque, dom, lifecycle_name (event));
  return 0;
}

static void
on_balloon_change (virConnectPtr conn, virDomainPtr dom, unsigned long long actual, void *opaque)
{
  domain_event (opaque, dom, "balloon-change");
}

static void
on_device_added (virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
  domain_event (opaque, dom, "device-added");
}

static void
on_device_removed (virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
  domain_event (opaque, dom, "device-removed");
}

static void
on_metadata_change (virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque)
{
  domain_event (opaque, dom, "metadata-change");
}

static void
on_memory_device_size_change (virConnectPtr conn, virDomainPtr dom, const char *alias,
                              unsigned long long size, void *opaque)
{
  domain_event (opaque, dom, "memory-device-size-change");
}

static const struct {
  int id;
  virConnectDomainEventGenericCallback callback;
  const char *name;
} domain_events[] = {
  { VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle), "lifecycle" },
  { VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, VIR_DOMAIN_EVENT_CALLBACK (on_balloon_change),
    "balloon-change" },
  { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK (on_device_added), "device-added" },
  { VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK (on_device_removed),
    "device-removed" },
  { VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, VIR_DOMAIN_EVENT_CALLBACK (on_metadata_change),
    "metadata-change" },
#if LIBVIR_CHECK_VERSION(7, 9, 0)
  { VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE,
    VIR_DOMAIN_EVENT_CALLBACK (on_memory_device_size_change), "memory-device-size-change" },
#endif
};

static void
on_connection_closed (virConnectPtr conn, int reason, void *opaque)
{
  SpLink *link = opaque;
  SpLibvirt *self = link->owner;
  static const char *const reasons[] = { "error", "end of file", "keepalive timeout",
                                         "client closed" };
  const char *why =
      reason >= 0 && reason < (int) G_N_ELEMENTS (reasons) ? reasons[reason] : "unknown reason";
  g_autofree char *status = NULL;

  if (self == NULL)
    return;
  g_warning ("Lost the libvirt connection to %s (%s); tuning goes on from /proc/meminfo "
             "with the last known domains while reconnecting",
             self->uri, why);
  /* a hung libvirtd (stopped, deadlocked) answers no keepalive: say so */
  if (reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE)
    status = g_strdup_printf ("unresponsive: no answer to keepalive for %d s, disconnected",
                              KEEPALIVE_INTERVAL_S * (KEEPALIVE_COUNT + 1));
  else
    status = g_strdup_printf ("disconnected: %s", why);
  set_status (self, status);
  disconnect (self);
  publish_state (self);

  self->backoff_ms = BACKOFF_MIN_MS;
  connect_async (self, self->uri, FALSE);
}

/* Worker thread: subscribes to every domain event this libvirt has. */
static void
sp_link_register (SpLink *link, const char *uri)
{
  for (gsize i = 0; i < G_N_ELEMENTS (domain_events); i++)
    {
      int id = virConnectDomainEventRegisterAny (link->conn, NULL, domain_events[i].id,
                                                 domain_events[i].callback, sp_link_ref (link),
                                                 sp_link_unref);
      if (id < 0)
        {
          g_debug ("libvirt at %s has no %s events: %s", uri, domain_events[i].name,
                   virGetLastErrorMessage ());
          sp_link_unref (link);
          continue;
        }
      g_array_append_val (link->callback_ids, id);
    }
  if (virConnectRegisterCloseCallback (link->conn, on_connection_closed, sp_link_ref (link),
                                       sp_link_close_ref_free) == 0)
    link->close_registered = TRUE;
  else
    sp_link_unref (link);
  /* Remote connections only; local drivers answer "not supported". */
  if (virConnectSetKeepAlive (link->conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
    g_debug ("No keepalive on %s: %s", uri, virGetLastErrorMessage ());
}

/* Worker thread: callbacks off, then the connection closes with the link. */
static void
close_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  SpLink *link = task_data;

  for (guint i = 0; i < link->callback_ids->len; i++)
    virConnectDomainEventDeregisterAny (link->conn, g_array_index (link->callback_ids, int, i));
  g_array_set_size (link->callback_ids, 0);
  if (link->close_registered)
    {
      virConnectUnregisterCloseCallback (link->conn, on_connection_closed);
      /* The remote driver has run the freecb by now (here, or after the
       * close callback fired); local drivers (test:///, qemu:///embed)
       * accept the callback without keeping it and never run it: the
       * reference is ours to drop, or the link and its connection leak. */
      if (!g_atomic_int_get (&link->close_ref_released))
        sp_link_close_ref_free (link);
    }
  link->close_registered = FALSE;
  g_task_return_boolean (task, TRUE);
}

/* Drops the connection at once; the RPCs that close it run in a worker. */
static void
disconnect (SpLibvirt *self)
{
  g_autoptr (GTask) task = NULL;
  SpLink *link = g_steal_pointer (&self->link);

  if (link == NULL)
    return;
  link->owner = NULL;
  g_mutex_lock (&self->lock);
  self->conn = NULL;
  g_mutex_unlock (&self->lock);

  task = g_task_new (NULL, NULL, NULL, NULL);
  g_task_set_task_data (task, link, sp_link_unref);
  g_task_run_in_thread (task, close_thread);
}

/* ---- connecting (worker thread + main thread) -------------------------- */

typedef struct {
  char *uri;             /* what to open; NULL: auto (system, else embedded) */
  char *opened_uri;      /* out */
  char *fallback_reason; /* out: why the embedded driver is used */
  gboolean system_probe; /* only try qemu:///system (background retry) */
} ConnectJob;

static void
connect_job_free (ConnectJob *job)
{
  g_free (job->uri);
  g_free (job->opened_uri);
  g_free (job->fallback_reason);
  g_free (job);
}

static SpLink *
sp_link_new (virConnectPtr conn, const char *uri)
{
  SpLink *link = g_atomic_rc_box_new0 (SpLink);

  link->conn = conn;
  link->callback_ids = g_array_new (FALSE, FALSE, sizeof (int));
  sp_link_register (link, uri);
  return link;
}

static void
connect_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ConnectJob *job = task_data;
  g_autoptr (GError) error = NULL;
  const char *uri = job->uri != NULL ? job->uri : SP_LIBVIRT_DEFAULT_URI;
  virConnectPtr conn = virConnectOpen (uri);

  if (conn != NULL)
    {
      job->opened_uri = g_strdup (uri);
      g_task_return_pointer (task, sp_link_new (conn, uri), sp_link_unref);
      return;
    }
  sp_libvirt_set_error (&error, "Cannot connect to %s", uri);
  if (job->uri != NULL || job->system_probe)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* auto: nobody answers at qemu:///system, use the embedded test driver */
  job->fallback_reason = g_strdup (error->message);
  g_clear_error (&error);
  conn = virConnectOpen (SP_LIBVIRT_EMBEDDED_URI);
  if (conn == NULL)
    {
      sp_libvirt_set_error (&error, "Cannot open libvirt's embedded driver %s",
                            SP_LIBVIRT_EMBEDDED_URI);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  job->opened_uri = g_strdup (SP_LIBVIRT_EMBEDDED_URI);
  g_task_return_pointer (task, sp_link_new (conn, SP_LIBVIRT_EMBEDDED_URI), sp_link_unref);
}

static gboolean
on_reconnect (gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (user_data);

  self->reconnect_id = 0;
  connect_async (self, self->requested_uri, FALSE);
  return G_SOURCE_REMOVE;
}

static gboolean
on_system_retry (gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (user_data);

  self->system_retry_id = 0;
  connect_async (self, SP_LIBVIRT_DEFAULT_URI, TRUE);
  return G_SOURCE_REMOVE;
}

static void
adopt_link (SpLibvirt *self, SpLink *link, const char *uri)
{
  disconnect (self);
  link->owner = self;
  self->link = link;
  g_mutex_lock (&self->lock);
  self->conn = link->conn;
  g_mutex_unlock (&self->lock);
  g_free (self->uri);
  self->uri = g_strdup (uri);
  self->backoff_ms = BACKOFF_MIN_MS;
  sp_libvirt_queue_refresh (self);
}

static void
connect_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (source);
  GTask *task = G_TASK (result);
  ConnectJob *job = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  SpLink *link = g_task_propagate_pointer (task, &error);
  g_autofree char *status = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  if (job->system_probe)
    {
      if (link == NULL)
        {
          g_debug ("%s", error->message);
          self->system_retry_id = g_timeout_add_seconds (SYSTEM_RETRY_S, on_system_retry, self);
          return;
        }
      g_message ("A libvirt daemon answers at %s now: leaving the embedded driver",
                 SP_LIBVIRT_DEFAULT_URI);
      self->embedded_fallback = FALSE;
      set_status (self, "connected");
      adopt_link (self, link, job->opened_uri);
      publish_state (self);
      return;
    }

  self->connecting = FALSE;
  if (link == NULL)
    {
      status =
          g_strdup_printf ("reconnecting in %.1f s: %s", self->backoff_ms / 1000.0, error->message);
      if (sp_log_once_changed (&self->connect_problem, error->message))
        g_warning ("%s; retrying with backoff (up to %d s)", error->message, BACKOFF_MAX_MS / 1000);
      set_status (self, status);
      if (self->uri == NULL)
        self->uri = g_strdup (job->uri ? job->uri : SP_LIBVIRT_DEFAULT_URI);
      publish_state (self);
      self->reconnect_id = g_timeout_add (self->backoff_ms, on_reconnect, self);
      self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
      return;
    }

  sp_log_once_reset (&self->connect_problem);
  if (job->fallback_reason != NULL)
    {
      g_message ("No libvirt daemon answers (%s); using libvirt's embedded test driver %s so "
                 "samepaged has domains to watch. %s is retried every %d s.",
                 job->fallback_reason, SP_LIBVIRT_EMBEDDED_URI, SP_LIBVIRT_DEFAULT_URI,
                 SYSTEM_RETRY_S);
      self->embedded_fallback = TRUE;
      status = g_strdup_printf ("connected to the embedded test driver (%s)", job->fallback_reason);
      self->system_retry_id = g_timeout_add_seconds (SYSTEM_RETRY_S, on_system_retry, self);
    }
  else
    {
      g_message ("Connected to libvirt at %s", job->opened_uri);
      status = g_strdup ("connected");
    }
  set_status (self, status);
  adopt_link (self, link, job->opened_uri);
}

static void
connect_async (SpLibvirt *self, const char *uri, gboolean system_probe)
{
  g_autoptr (GTask) task = NULL;
  ConnectJob *job;

  if (!system_probe)
    {
      if (self->connecting)
        return;
      self->connecting = TRUE;
      g_clear_handle_id (&self->reconnect_id, g_source_remove);
    }
  job = g_new0 (ConnectJob, 1);
  /* a lost embedded connection reconnects in auto mode */
  job->uri = g_strdup (self->embedded_fallback && !system_probe ? NULL : uri);
  job->system_probe = system_probe;
  task = g_task_new (self, self->cancellable, connect_done, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) connect_job_free);
  g_task_run_in_thread (task, connect_thread);
}

/* ---- object ------------------------------------------------------------ */

static void
sp_libvirt_dispose (GObject *object)
{
  SpLibvirt *self = SP_LIBVIRT (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  g_clear_handle_id (&self->system_retry_id, g_source_remove);
  disconnect (self);
  G_OBJECT_CLASS (sp_libvirt_parent_class)->dispose (object);
}

static void
sp_libvirt_finalize (GObject *object)
{
  SpLibvirt *self = SP_LIBVIRT (object);

  g_free (self->requested_uri);
  g_free (self->procfs_root);
  g_free (self->pid_dir);
  g_free (self->uri);
  g_free (self->status);
  g_clear_pointer (&self->guests, sp_guests_unref);
  g_clear_pointer (&self->dirty, g_hash_table_unref);
  g_clear_object (&self->cancellable);
  g_mutex_clear (&self->lock);
  sp_log_once_reset (&self->connect_problem);
  sp_log_once_reset (&self->refresh_problem);
  G_OBJECT_CLASS (sp_libvirt_parent_class)->finalize (object);
}

static void
sp_libvirt_class_init (SpLibvirtClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_libvirt_dispose;
  object_class->finalize = sp_libvirt_finalize;

  /**
   * SpLibvirt::guests-changed:
   * @guests: (type gpointer): the new SpGuests
   */
  signals[SIGNAL_GUESTS_CHANGED] =
      g_signal_new ("guests-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
sp_libvirt_init (SpLibvirt *self)
{
  g_mutex_init (&self->lock);
  self->guests = sp_guests_new ();
  self->dirty = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new ();
  self->backoff_ms = BACKOFF_MIN_MS;
  self->status = g_strdup ("connecting");
}

SpLibvirt *
sp_libvirt_new (const char *uri, const char *procfs_root, const char *pid_dir)
{
  SpLibvirt *self = g_object_new (SP_TYPE_LIBVIRT, NULL);

  self->requested_uri = g_strdup (uri);
  self->procfs_root = g_strdup (procfs_root ? procfs_root : "/proc");
  self->pid_dir = g_strdup (pid_dir);
  return self;
}

void
sp_libvirt_start (SpLibvirt *self)
{
  static gsize initialised = 0;

  g_return_if_fail (SP_IS_LIBVIRT (self));

  if (g_once_init_enter (&initialised))
    {
      sp_libvirt_quiet_errors ();
      gvir_init (NULL, NULL);
      gvir_event_register ();
      g_once_init_leave (&initialised, 1);
    }
  connect_async (self, self->requested_uri, FALSE);
}

SpGuests *
sp_libvirt_get_guests (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), NULL);
  return self->guests;
}

virConnectPtr
sp_libvirt_ref_connection (SpLibvirt *self)
{
  virConnectPtr conn;

  g_return_val_if_fail (SP_IS_LIBVIRT (self), NULL);

  g_mutex_lock (&self->lock);
  conn = self->conn;
  if (conn != NULL)
    virConnectRef (conn);
  g_mutex_unlock (&self->lock);
  return conn;
}

guint64
sp_libvirt_get_n_events (SpLibvirt *self)
{
  return self->n_events;
}

guint64
sp_libvirt_get_n_refreshes (SpLibvirt *self)
{
  return self->n_refreshes;
}

guint64
sp_libvirt_get_n_queried (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), 0);
  return self->n_queried;
}
