/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt watcher on libvirt's test driver (test:///<node.xml>): the
 * committed sum and its exclusions, event-driven refresh and retune, event
 * storms folded into a handful of refreshes, and QEMU's /proc facts followed with no event
 * (over a fake procfs tree).
 */
#include <glib/gstdio.h>
#include <unistd.h>

#include "sp-guest-refresh.h"
#include "sp-libvirt-util.h"
#include "sp-libvirt.h"
#include "sp-test.h"
#include "sp-tuner.h"

#define PLAIN_UUID "11111111-1111-4111-8111-111111111111"

/* the /proc facts are read as often as the tuner watches memory pressure */
G_STATIC_ASSERT (SP_GUEST_QUERY_PROC_INTERVAL_S == SP_TUNER_WATCH_INTERVAL_S);
#define MIB G_GUINT64_CONSTANT (1024)
#define GIB (MIB * 1024)

static const SpDomainInfo *
find (SpTestWatch *w, const char *name)
{
  const SpDomainInfo *d = sp_guests_find (w->last, name);
  g_assert_nonnull (d);
  return d;
}

static void
test_libvirt_committed_and_exclusions (void)
{
  SpTestWatch w;
  const SpDomainInfo *d;

  sp_test_watch_start (&w, "node.xml");
  g_assert_cmpuint (w.last->domains->len, ==, 6);
  g_assert_cmpuint (w.last->n_active, ==, 5);
  /* plain 512 MiB + small 256 MiB; noshare, huge and shared are excluded */
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB);

  d = find (&w, "plain");
  g_assert_true (d->active);
  g_assert_true (d->persistent);
  g_assert_true (d->mergeable);
  g_assert_null (d->unmergeable_reason);
  g_assert_cmpuint (d->current_kib, ==, 512 * MIB);
  g_assert_cmpuint (d->maximum_kib, ==, 1 * GIB);
  /* the test driver has no balloon stats: virDomainGetInfo is the source */
  g_assert_cmpstr (d->memory_source, ==, "info");
  g_assert_cmpstr (d->uuid, ==, "11111111-1111-4111-8111-111111111111");
  g_assert_true (d->mem_merge);
  g_assert_true (d->mem_merge_active);
  g_assert_false (d->pending_restart);

  d = find (&w, "noshare");
  g_assert_false (d->mergeable);
  g_assert_cmpstr (d->unmergeable_reason, ==, "nosharepages");
  g_assert_false (d->mem_merge);
  g_assert_false (d->mem_merge_active);

  d = find (&w, "huge");
  g_assert_false (d->mergeable);
  g_assert_cmpstr (d->unmergeable_reason, ==, "hugepages");

  d = find (&w, "shared");
  g_assert_false (d->mergeable);
  g_assert_cmpstr (d->unmergeable_reason, ==, "memfd memory backing");

  d = find (&w, "off");
  g_assert_false (d->active);
  g_assert_true (d->mergeable);
  g_assert_cmpuint (d->current_kib, ==, 2 * GIB);
  g_assert_cmpstr (d->memory_source, ==, "xml");

  /* by UUID too */
  g_assert_true (sp_guests_find (w.last, "66666666-6666-4666-8666-666666666666") == d);
  sp_test_watch_stop (&w);
}

static void
test_libvirt_events_refresh (void)
{
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) dom = NULL;
  SpTestWatch w;
  guint n;

  sp_test_log_capture ();
  sp_test_log_clear ();
  sp_test_watch_start (&w, "node.xml");
  conn = sp_libvirt_ref_connection (w.libvirt);
  g_assert_nonnull (conn);
  dom = virDomainLookupByName (conn, "off");
  g_assert_nonnull (dom);

  n = w.n_changed;
  g_assert_cmpint (virDomainCreate (dom), ==, 0);
  sp_test_watch_wait_changes (&w, n);
  g_assert_true (find (&w, "off")->active);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB + 2 * GIB);
  g_assert_cmpuint (sp_libvirt_get_n_events (w.libvirt), >=, 1);

  n = w.n_changed;
  g_assert_cmpint (virDomainDestroy (dom), ==, 0);
  sp_test_watch_wait_changes (&w, n);
  g_assert_false (find (&w, "off")->active);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB);

  /* undefine: the domain disappears from the list */
  n = w.n_changed;
  g_assert_cmpint (virDomainUndefine (dom), ==, 0);
  sp_test_watch_wait_changes (&w, n);
  g_assert_null (sp_guests_find (w.last, "off"));

  /* the domain's story, one info line a change, under SAMEPAGE_DOMAIN=off */
  g_assert_cmpuint (sp_test_log_count ("INFO plain Domain plain is running: 512.0 MiB, mergeable"),
                    ==, 1);
  g_assert_cmpuint (sp_test_log_count ("INFO off Domain off started: 2.0 GiB, mergeable"), ==, 1);
  g_assert_cmpuint (sp_test_log_count ("INFO off Domain off stopped"), ==, 1);
  g_assert_cmpuint (sp_test_log_count ("INFO off Domain off undefined"), ==, 1);
  g_assert_cmpuint (sp_test_log_count ("INFO - *"), ==, 0);
  sp_test_watch_stop (&w);
}

static const char *NEW_DOMAIN =
    "<domain type='test'><name>fresh</name>"
    "<uuid>77777777-7777-4777-8777-777777777777</uuid>"
    "<memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>524288</currentMemory>"
    "<os><type>hvm</type></os></domain>";

/* An event re-queries only the domain it names; the others keep their facts.
 * A full refresh (sp_libvirt_queue_refresh) queries every domain again. */

static void
test_libvirt_incremental (void)
{
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) off = NULL;
  g_autoptr (virDomain) fresh = NULL;
  const SpDomainInfo *plain_before;
  const SpDomainInfo *d;
  g_autofree char *plain_uuid = NULL;
  SpTestWatch w;
  guint n;

  sp_test_watch_start (&w, "node.xml");
  g_assert_cmpuint (sp_libvirt_get_n_queried (w.libvirt), ==, 6);
  conn = sp_libvirt_ref_connection (w.libvirt);
  plain_before = find (&w, "plain");
  plain_uuid = g_strdup (plain_before->uuid);

  /* a start names "off": one domain queried, the sum follows */
  off = virDomainLookupByName (conn, "off");
  n = w.n_changed;
  g_assert_cmpint (virDomainCreate (off), ==, 0);
  sp_test_watch_wait_changes (&w, n);
  g_assert_cmpuint (sp_libvirt_get_n_queried (w.libvirt), ==, 1);
  g_assert_true (find (&w, "off")->active);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB + 2 * GIB);
  g_assert_cmpuint (w.last->domains->len, ==, 6);
  /* kept facts are whole copies */
  d = find (&w, "plain");
  g_assert_true (d != plain_before);
  g_assert_cmpstr (d->uuid, ==, plain_uuid);
  g_assert_cmpuint (d->current_kib, ==, 512 * MIB);
  g_assert_cmpstr (d->memory_source, ==, "info");
  g_assert_true (d->mergeable);
  g_assert_cmpstr (find (&w, "noshare")->unmergeable_reason, ==, "nosharepages");

  /* a new domain is queried; an undefined one is gone */
  n = w.n_changed;
  fresh = virDomainDefineXML (conn, NEW_DOMAIN);
  g_assert_nonnull (fresh);
  sp_test_watch_wait_changes (&w, n);
  g_assert_cmpuint (sp_libvirt_get_n_queried (w.libvirt), ==, 1);
  d = find (&w, "77777777-7777-4777-8777-777777777777");
  g_assert_cmpstr (d->name, ==, "fresh");
  g_assert_false (d->active);
  g_assert_cmpuint (d->current_kib, ==, 512 * MIB);
  n = w.n_changed;
  g_assert_cmpint (virDomainUndefine (fresh), ==, 0);
  sp_test_watch_wait_changes (&w, n);
  g_assert_null (sp_guests_find (w.last, "fresh"));
  g_assert_cmpuint (w.last->domains->len, ==, 6);

  /* without an event, a change is seen by a full refresh only */
  g_assert_cmpint (virDomainSetMemoryFlags (off, 1 * GIB, VIR_DOMAIN_AFFECT_LIVE), ==, 0);
  n = w.n_changed;
  sp_libvirt_queue_refresh (w.libvirt);
  sp_test_watch_wait_changes (&w, n);
  g_assert_cmpuint (sp_libvirt_get_n_queried (w.libvirt), ==, 6);
  g_assert_cmpuint (find (&w, "off")->current_kib, ==, 1 * GIB);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB + 1 * GIB);

  /* SetMemMerge's refresh, by UUID in any case */
  n = w.n_changed;
  sp_libvirt_queue_refresh_domain (w.libvirt, "11111111-1111-4111-8111-111111111111");
  sp_test_watch_wait_changes (&w, n);
  g_assert_cmpuint (sp_libvirt_get_n_queried (w.libvirt), ==, 1);
  sp_test_watch_stop (&w);
}

static void
test_libvirt_storm (void)
{
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) dom = NULL;
  SpTestWatch w;
  guint64 events_before, refreshes_before, events, refreshes;

  sp_test_watch_start (&w, "node.xml");
  sp_test_settle (300);
  conn = sp_libvirt_ref_connection (w.libvirt);
  dom = virDomainLookupByName (conn, "plain");
  events_before = sp_libvirt_get_n_events (w.libvirt);
  refreshes_before = sp_libvirt_get_n_refreshes (w.libvirt);

  /* a storm: 500 suspend/resume pairs, 1,000 lifecycle events; the first
   * refreshes at once, the others fold into one more after it */
  for (int i = 0; i < 500; i++)
    {
      g_assert_cmpint (virDomainSuspend (dom), ==, 0);
      g_assert_cmpint (virDomainResume (dom), ==, 0);
    }
  sp_test_settle (1000);

  events = sp_libvirt_get_n_events (w.libvirt) - events_before;
  refreshes = sp_libvirt_get_n_refreshes (w.libvirt) - refreshes_before;
  g_test_message ("%" G_GUINT64_FORMAT " events gave %" G_GUINT64_FORMAT " refreshes", events,
                  refreshes);
  g_assert_cmpuint (events, ==, 1000);
  g_assert_cmpuint (refreshes, >=, 1);
  g_assert_cmpuint (refreshes, <=, 3);
  g_assert_true (find (&w, "plain")->active);
  sp_test_watch_stop (&w);
}

/* A storm that lasts: events every few ms for about 1.5 s. The hold-off
 * between refreshes doubles from 100 ms up to 1 s while they keep coming
 * (starts at 0, 0.1, 0.3, 0.7, 1.5 s, then one a second), so the count
 * stays near 5 + the seconds past 1.5; at a fixed 100 ms it would be 15+. */
static void
test_libvirt_sustained_storm (void)
{
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) dom = NULL;
  SpTestWatch w;
  guint64 events_before, refreshes_before, events, refreshes, bound;
  gint64 start_us;

  sp_test_watch_start (&w, "node.xml");
  sp_test_settle (SP_GUEST_QUERY_HOLDOFF_MAX_MS + 100);
  conn = sp_libvirt_ref_connection (w.libvirt);
  dom = virDomainLookupByName (conn, "plain");
  events_before = sp_libvirt_get_n_events (w.libvirt);
  refreshes_before = sp_libvirt_get_n_refreshes (w.libvirt);

  start_us = g_get_monotonic_time ();
  for (int i = 0; i < 300; i++)
    {
      g_assert_cmpint (virDomainSuspend (dom), ==, 0);
      g_assert_cmpint (virDomainResume (dom), ==, 0);
      sp_test_settle (5);
    }
  sp_test_settle (SP_GUEST_QUERY_HOLDOFF_MAX_MS + 200);

  events = sp_libvirt_get_n_events (w.libvirt) - events_before;
  refreshes = sp_libvirt_get_n_refreshes (w.libvirt) - refreshes_before;
  /* however slow the machine: 5 up to 1.5 s, then at most one a second */
  bound = 6 + (guint64) ((g_get_monotonic_time () - start_us) / G_USEC_PER_SEC);
  g_test_message ("%" G_GUINT64_FORMAT " events gave %" G_GUINT64_FORMAT
                  " refreshes (at most %" G_GUINT64_FORMAT ")",
                  events, refreshes, bound);
  g_assert_cmpuint (events, ==, 600);
  g_assert_cmpuint (refreshes, >=, 2);
  g_assert_cmpuint (refreshes, <=, bound);
  g_assert_true (find (&w, "plain")->active);
  sp_test_watch_stop (&w);
}

/* An event retunes at once: with a 600 s tick, the knobs follow a guest. */
static void
test_libvirt_event_retunes (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpTuner) tuner = NULL;
  g_autoptr (virConnect) conn = NULL;
  g_autoptr (virDomain) dom = NULL;
  SpTestSysfs tree;
  g_autofree char *proc = NULL;
  g_autofree char *run = NULL;
  guint64 decisions;
  SpTestWatch w;

  /* the sysfs root with /proc beside its kernel/ */
  sp_test_sysfs_init (&tree, NULL);
  proc = g_build_filename (tree.root, "proc", NULL);
  sp_test_sysfs_set (&tree, "run", "0\n");
  sp_test_sysfs_set (&tree, "pages_to_scan", "100\n");
  sp_test_sysfs_set (&tree, "sleep_millisecs", "20\n");
  /* 8 GiB host, 6 GiB available: threshold 1.6 GiB. Committed 768 MiB
   * stops KSM; with "off" (2 GiB) and more the sum crosses total - thres. */
  sp_test_write_in (proc, "meminfo",
                    "MemTotal: 8388608 kB\nMemFree: 3145728 kB\n"
                    "MemAvailable: 6291456 kB\nBuffers: 0 kB\n"
                    "Cached: 3145728 kB\n",
                    -1);

  config->monitor_interval_sec = 600;
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  tuner = sp_tuner_new (config, tree.root, proc, FALSE);
  sp_test_watch_start (&w, "node.xml");
  sp_tuner_set_guests (tuner, w.last);
  sp_tuner_start (tuner);
  g_assert_cmpint (sp_tuner_get_snapshot (tuner)->decision.action, ==, SP_ACTION_STOP);

  /* the daemon's wiring: each refresh hands the guests over and retunes */
  g_signal_connect_swapped (w.libvirt, "guests-changed", G_CALLBACK (sp_tuner_set_guests), tuner);
  g_signal_connect_swapped (w.libvirt, "guests-changed", G_CALLBACK (sp_tuner_retune), tuner);

  conn = sp_libvirt_ref_connection (w.libvirt);
  /* grow "off" to 6 GiB in its config, then start it */
  dom = virDomainLookupByName (conn, "off");
  g_assert_cmpint (virDomainSetMaxMemory (dom, 6 * GIB), ==, 0);
  g_assert_cmpint (virDomainSetMemoryFlags (dom, 6 * GIB, VIR_DOMAIN_AFFECT_CONFIG), ==, 0);
  decisions = sp_tuner_get_n_decisions (tuner);
  g_assert_cmpint (virDomainCreate (dom), ==, 0);
  while (sp_tuner_get_snapshot (tuner)->guests->committed_kib != 768 * MIB + 6 * GIB)
    sp_test_watch_wait_changes (&w, w.n_changed);
  g_assert_cmpuint (sp_tuner_get_n_decisions (tuner), >, decisions);
  g_assert_cmpint (sp_tuner_get_snapshot (tuner)->decision.action, ==, SP_ACTION_RUN);
  run = sp_test_sysfs_get (&tree, "run");
  g_assert_cmpstr (run, ==, "1");

  g_assert_true (sp_tuner_restore (tuner, NULL));
  g_clear_object (&tuner);
  sp_test_watch_stop (&w);
  sp_test_sysfs_clear (&tree);
}

/* ---- QEMU's /proc facts with no libvirt event --------------------------- */

/* "plain"'s QEMU, process 4242 of the fake tree: its ksm_stat (Linux 6.14). */
static void
write_ksm_stat (const char *proc, gint64 merging_pages, const char *mergeable)
{
  g_autofree char *path = g_build_filename (proc, "4242", "ksm_stat", NULL);
  g_autofree char *text = g_strdup_printf ("ksm_rmap_items 4096\nksm_zero_pages 7\n"
                                           "ksm_merging_pages %" G_GINT64_FORMAT "\n"
                                           "ksm_process_profit 1000\nksm_merge_any: no\n"
                                           "ksm_mergeable: %s\n",
                                           merging_pages, mergeable);

  sp_test_write_file (path, text, -1);
}

typedef gboolean (*WatchCheck) (SpTestWatch *w);

/* Iterates the main loop until check holds, for at most two /proc periods
 * (and a second for the worker). */
static void
wait_within_two_periods (SpTestWatch *w, WatchCheck check)
{
  SpTestTimeout timeout;

  sp_test_timeout_start_ms (&timeout, 2 * SP_GUEST_QUERY_PROC_INTERVAL_S * 1000 + 1000);
  while (!check (w) && !timeout.expired)
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
}

static gboolean
merging_250 (SpTestWatch *w)
{
  return find (w, "plain")->ksm_merging_pages == 250;
}

static gboolean
plain_unmergeable (SpTestWatch *w)
{
  return !find (w, "plain")->mergeable;
}

static gboolean
plain_mergeable (SpTestWatch *w)
{
  return find (w, "plain")->mergeable;
}

/*
 * How much a running guest merges changes with no libvirt event: its
 * ksm_stat is read again every SP_GUEST_QUERY_PROC_INTERVAL_S, and new
 * guests are published when (and only when) a fact changed; the
 * unmergeable reason and the committed sum follow ksm_mergeable.
 */
static void
test_libvirt_proc_facts_follow (void)
{
  static const char cmdline[] = "/usr/bin/qemu-system-x86_64\0-name\0guest=plain\0"
                                "-uuid\0" PLAIN_UUID "\0-m\0512\0";
  g_autofree char *root = sp_test_make_tmp_dir ();
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_autofree char *run = g_build_filename (root, "run", NULL);
  g_autofree char *cmdline_path = g_build_filename (proc, "4242", "cmdline", NULL);
  g_autofree char *pid_path = g_build_filename (run, "plain.pid", NULL);
  const SpDomainInfo *d;
  guint64 events, refreshes;
  guint n;
  SpTestWatch w;

  g_autofree char *status_path = g_build_filename (proc, "4242", "status", NULL);
  g_autofree char *status =
      g_strdup_printf ("Uid:\t%u\t%u\t%u\t%u\n", (guint) geteuid (), (guint) geteuid (),
                       (guint) geteuid (), (guint) geteuid ());

  sp_test_write_file (cmdline_path, cmdline, sizeof (cmdline) - 1);
  /* libvirt's pid file, and its QEMU running as libvirt's user (the pid
   * file's owner: this test) */
  sp_test_write_file (pid_path, "4242\n", -1);
  sp_test_write_file (status_path, status, -1);
  write_ksm_stat (proc, 100, "yes");

  sp_test_watch_start_full (&w, "node.xml", proc, run);
  d = find (&w, "plain");
  g_assert_cmpint (d->pid, ==, 4242);
  g_assert_true (d->ksm_stat_present);
  g_assert_cmpint (d->ksm_merging_pages, ==, 100);
  g_assert_cmpint (d->ksm_zero_pages, ==, 7);
  g_assert_cmpint (d->ksm_mergeable, ==, SP_KSM_MERGEABLE_YES);
  g_assert_true (d->mergeable);
  /* the other guests have no QEMU in the tree */
  g_assert_cmpint (find (&w, "small")->pid, ==, 0);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB);
  events = sp_libvirt_get_n_events (w.libvirt);
  refreshes = sp_libvirt_get_n_refreshes (w.libvirt);

  /* nothing changed: nothing published, for two periods */
  n = w.n_changed;
  sp_test_settle (2 * SP_GUEST_QUERY_PROC_INTERVAL_S * 1000 + 500);
  g_assert_cmpuint (w.n_changed, ==, n);

  /* KSM merged more of it: published once, with no libvirt event */
  write_ksm_stat (proc, 250, "yes");
  wait_within_two_periods (&w, merging_250);
  g_assert_cmpuint (w.n_changed, ==, n + 1);
  d = find (&w, "plain");
  g_assert_cmpint (d->pid, ==, 4242);
  g_assert_true (d->mergeable);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB);
  g_assert_true (w.last->connected);
  g_assert_cmpstr (w.last->status, ==, "connected");
  /* the domains libvirt told stay */
  g_assert_cmpuint (w.last->domains->len, ==, 6);
  g_assert_cmpstr (find (&w, "noshare")->unmergeable_reason, ==, "nosharepages");

  /* QEMU says KSM cannot merge it: the reason and the sum follow */
  write_ksm_stat (proc, 250, "no");
  wait_within_two_periods (&w, plain_unmergeable);
  g_assert_cmpstr (find (&w, "plain")->unmergeable_reason, ==, "QEMU reports ksm_mergeable: no");
  g_assert_cmpuint (w.last->committed_kib, ==, 256 * MIB);

  write_ksm_stat (proc, 260, "yes");
  wait_within_two_periods (&w, plain_mergeable);
  g_assert_null (find (&w, "plain")->unmergeable_reason);
  g_assert_cmpint (find (&w, "plain")->ksm_merging_pages, ==, 260);
  g_assert_cmpuint (w.last->committed_kib, ==, 768 * MIB);

  /* all of it without libvirt */
  g_assert_cmpuint (sp_libvirt_get_n_events (w.libvirt), ==, events);
  g_assert_cmpuint (sp_libvirt_get_n_refreshes (w.libvirt), ==, refreshes);
  sp_test_watch_stop (&w);
  sp_test_remove_tree (root);
}

/* ---- a view of libvirt that heals itself ------------------------------ */

typedef struct {
  const char *fail_domain; /* its query fails; NULL: none */
  gint fail_lists;         /* this many listings fail */
} Faults;

static gboolean
fault_hook (virDomainPtr dom, GError **error, gpointer user_data)
{
  Faults *faults = user_data;

  if (dom == NULL)
    {
      if (g_atomic_int_get (&faults->fail_lists) <= 0)
        return TRUE;
      g_atomic_int_add (&faults->fail_lists, -1);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "injected listing fault");
      return FALSE;
    }
  if (g_strcmp0 (virDomainGetName (dom), g_atomic_pointer_get (&faults->fail_domain)) != 0)
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "injected query fault");
  return FALSE;
}

static void
set_live_memory (virConnectPtr conn, const char *name, guint64 kib)
{
  g_autoptr (virDomain) dom = virDomainLookupByName (conn, name);

  g_assert_nonnull (dom);
  g_assert_cmpint (virDomainSetMemoryFlags (dom, kib, VIR_DOMAIN_AFFECT_LIVE), ==, 0);
}

/* Iterates until name's current memory is kib (20 s at most). */
static void
wait_memory (SpTestWatch *w, const char *name, guint64 kib)
{
  while (find (w, name)->current_kib != kib)
    sp_test_watch_wait_changes (w, w->n_changed);
}

/*
 * A domain whose query fails does not abort the refresh of the others: it
 * keeps its last facts, is logged once (however often it fails with the
 * same message), and is queried again with backoff until it answers.
 */
static void
test_libvirt_query_failure_keeps_facts (void)
{
  g_autoptr (virConnect) conn = NULL;
  Faults faults = { .fail_domain = "plain" };
  SpTestWatch w;
  guint n;

  sp_test_watch_start (&w, "node.xml");
  conn = sp_libvirt_ref_connection (w.libvirt);
  sp_test_log_clear ();
  sp_guest_refresh_set_test_hook (fault_hook, &faults);

  /* no event for these on the test driver: a full refresh sees them */
  set_live_memory (conn, "small", 128 * MIB);
  set_live_memory (conn, "plain", 256 * MIB);
  n = w.n_changed;
  sp_libvirt_queue_refresh (w.libvirt);
  sp_test_watch_wait_changes (&w, n);
  g_assert_cmpuint (find (&w, "small")->current_kib, ==, 128 * MIB);
  /* plain keeps what was known of it */
  g_assert_cmpuint (find (&w, "plain")->current_kib, ==, 512 * MIB);
  g_assert_true (find (&w, "plain")->active);
  g_assert_cmpuint (w.last->domains->len, ==, 6);
  g_assert_cmpuint (w.last->committed_kib, ==, 512 * MIB + 128 * MIB);
  g_assert_cmpuint (sp_test_log_count ("WARNING Cannot query domain plain: injected query fault; "
                                       "keeping its last facts"),
                    ==, 1);

  /* retried after 1 s and 2 s, failing the same way: no new line */
  sp_test_settle (3500);
  g_assert_cmpuint (sp_test_log_count ("WARNING Cannot query domain plain*"), ==, 1);
  g_assert_cmpuint (find (&w, "plain")->current_kib, ==, 512 * MIB);

  /* it answers again: picked up by the next retry, with no request */
  g_atomic_pointer_set (&faults.fail_domain, NULL);
  wait_memory (&w, "plain", 256 * MIB);
  g_assert_cmpuint (w.last->committed_kib, ==, 256 * MIB + 128 * MIB);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Domain plain answers again"), ==, 1);

  sp_guest_refresh_set_test_hook (NULL, NULL);
  sp_test_watch_stop (&w);
}

/* A refresh that fails as a whole is retried with backoff. */
static void
test_libvirt_refresh_retry (void)
{
  g_autoptr (virConnect) conn = NULL;
  Faults faults = { .fail_lists = 2 };
  guint64 refreshes;
  SpTestWatch w;
  guint n;

  sp_test_watch_start (&w, "node.xml");
  conn = sp_libvirt_ref_connection (w.libvirt);
  sp_test_log_clear ();
  refreshes = sp_libvirt_get_n_refreshes (w.libvirt);
  sp_guest_refresh_set_test_hook (fault_hook, &faults);

  set_live_memory (conn, "small", 200 * MIB);
  n = w.n_changed;
  sp_libvirt_queue_refresh (w.libvirt);
  sp_test_watch_wait_changes (&w, n);
  g_assert_cmpuint (find (&w, "small")->current_kib, ==, 200 * MIB);
  g_assert_cmpint (g_atomic_int_get (&faults.fail_lists), ==, 0);
  /* two failed, the third (the second retry) published */
  g_assert_cmpuint (sp_libvirt_get_n_refreshes (w.libvirt), ==, refreshes + 3);
  g_assert_cmpuint (sp_test_log_count ("WARNING Cannot refresh the domain list: injected listing "
                                       "fault; retrying"),
                    ==, 1);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Domain list refreshed again"), ==, 1);

  sp_guest_refresh_set_test_hook (NULL, NULL);
  sp_test_watch_stop (&w);
}

/* Every resync interval every domain is queried again: a change no event
 * told is seen within it. */
static void
test_libvirt_resync_interval (void)
{
  g_autoptr (virConnect) conn = NULL;
  SpTestWatch w;
  guint n;

  sp_test_watch_start (&w, "node.xml");
  conn = sp_libvirt_ref_connection (w.libvirt);

  /* no resync by default in the watcher: nothing changes by itself */
  set_live_memory (conn, "small", 100 * MIB);
  n = w.n_changed;
  sp_test_settle (2500);
  g_assert_cmpuint (w.n_changed, ==, n);
  g_assert_cmpuint (find (&w, "small")->current_kib, ==, 256 * MIB);

  sp_libvirt_set_resync_interval (w.libvirt, 1);
  wait_memory (&w, "small", 100 * MIB);
  g_assert_cmpuint (sp_libvirt_get_n_queried (w.libvirt), ==, 6);
  g_assert_cmpuint (w.last->committed_kib, ==, 512 * MIB + 100 * MIB);

  /* and again, for the next change */
  set_live_memory (conn, "small", 64 * MIB);
  wait_memory (&w, "small", 64 * MIB);

  /* a resync asked for (Retune, SIGHUP) with the interval off */
  sp_libvirt_set_resync_interval (w.libvirt, 0);
  set_live_memory (conn, "small", 32 * MIB);
  sp_test_settle (1500);
  g_assert_cmpuint (find (&w, "small")->current_kib, ==, 64 * MIB);
  sp_libvirt_resync (w.libvirt, "test");
  wait_memory (&w, "small", 32 * MIB);
  sp_test_watch_stop (&w);
}

/* The committed sum of libvirt's values saturates instead of wrapping (a
 * wrapped sum would read as little memory and stop KSM). */
static void
test_libvirt_saturating_sum (void)
{
  g_autoptr (SpGuests) guests = sp_guests_new ();
  const guint64 values[] = { G_MAXUINT64 / 2 + 1, G_MAXUINT64 / 2 + 1, 1024 };

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    {
      SpDomainInfo *d = sp_domain_info_new ();

      d->name = g_strdup_printf ("huge%" G_GSIZE_FORMAT, i);
      d->uuid = g_strdup_printf ("00000000-0000-4000-8000-00000000000%" G_GSIZE_FORMAT, i);
      d->active = TRUE;
      d->current_kib = values[i];
      g_ptr_array_add (guests->domains, d);
    }
  sp_guests_finish (guests);
  g_assert_cmpuint (guests->committed_kib, ==, G_MAXUINT64);
  g_assert_cmpuint (sp_add_saturating_u64 (G_MAXUINT64, 1), ==, G_MAXUINT64);
  g_assert_cmpuint (sp_add_saturating_u64 (1, G_MAXUINT64 - 1), ==, G_MAXUINT64);
  g_assert_cmpuint (sp_add_saturating_u64 (2, 3), ==, 5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
  g_test_add_func ("/libvirt/committed-and-exclusions", test_libvirt_committed_and_exclusions);
  g_test_add_func ("/libvirt/events-refresh", test_libvirt_events_refresh);
  g_test_add_func ("/libvirt/incremental", test_libvirt_incremental);
  g_test_add_func ("/libvirt/storm", test_libvirt_storm);
  g_test_add_func ("/libvirt/sustained-storm", test_libvirt_sustained_storm);
  g_test_add_func ("/libvirt/event-retunes", test_libvirt_event_retunes);
  g_test_add_func ("/libvirt/proc-facts-follow", test_libvirt_proc_facts_follow);
  g_test_add_func ("/libvirt/query-failure-keeps-facts", test_libvirt_query_failure_keeps_facts);
  g_test_add_func ("/libvirt/refresh-retry", test_libvirt_refresh_retry);
  g_test_add_func ("/libvirt/resync-interval", test_libvirt_resync_interval);
  g_test_add_func ("/libvirt/saturating-sum", test_libvirt_saturating_sum);
  return g_test_run ();
}
