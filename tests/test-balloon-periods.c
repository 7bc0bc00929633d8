/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The memory stats periods samepaged sets, on libvirt's test driver: the
 * record (<state-dir>/balloon-periods) is written before a period is set
 * and survives the actuator (a crash); a later actuator puts the period
 * back to 0 where samepaged no longer manages the domain, keeps it where
 * it does, and forgets undefined and shut-off domains; leave
 * (restore_on_exit=false) puts periods back all the same. Plus the record
 * file itself.
 */
#define G_LOG_DOMAIN "test-balloon-periods"

#include <string.h>

#include <glib/gstdio.h>

#include "sp-balloon-actuator.h"
#include "sp-balloon-periods.h"
#include "sp-libvirt-util.h"
#include "sp-test.h"

#define REP_UUID "f6f6f6f6-6666-4666-8666-666666666666"
#define GONE_UUID "0d0d0d0d-0000-4000-8000-000000000000"
#define STOPPED_UUID "c3c3c3c3-3333-4333-8333-333333333333" /* of merge-node.xml */

typedef struct {
  SpTestWatch watch;
  virConnectPtr conn;
  virDomainPtr dom; /* "rep": a running guest with a virtio balloon, no stats period */
  char *state_dir;
  char *record;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *xml = "<domain type='test'><name>rep</name><uuid>" REP_UUID "</uuid>"
                    "<memory unit='MiB'>256</memory><os><type>hvm</type></os>"
                    "<devices><memballoon model='virtio'/></devices></domain>";

  memset (f, 0, sizeof (*f));
  sp_test_log_clear ();
  sp_test_watch_start (&f->watch, "merge-node.xml");
  f->conn = sp_libvirt_ref_connection (f->watch.libvirt);
  g_assert_nonnull (f->conn);
  f->dom = virDomainDefineXML (f->conn, xml);
  g_assert_nonnull (f->dom);
  g_assert_cmpint (virDomainCreate (f->dom), ==, 0);
  f->state_dir = sp_test_make_tmp_dir ();
  f->record = g_build_filename (f->state_dir, SP_BALLOON_PERIODS_FILE, NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->dom, virDomainFree);
  g_clear_pointer (&f->conn, virConnectClose);
  sp_test_watch_stop (&f->watch);
  sp_test_remove_tree (f->state_dir);
  g_free (f->state_dir);
  g_free (f->record);
}

/* The live stats period of rep, from its running XML. */
static guint
live_period (Fixture *f)
{
  g_autofree char *xml = virDomainGetXMLDesc (f->dom, 0);
  const char *at = strstr (xml, "<stats period='");

  return at != NULL ? (guint) g_ascii_strtoull (at + strlen ("<stats period='"), NULL, 10) : 0;
}

typedef struct {
  Fixture *f;
  guint period;
} Want;

static gboolean
period_is (gpointer data)
{
  const Want *want = data;

  return live_period (want->f) == want->period;
}

/* The watcher has seen rep with this period. */
static gboolean
seen_with (gpointer data)
{
  const Want *want = data;
  const SpDomainInfo *info =
      want->f->watch.last ? sp_guests_find (want->f->watch.last, "rep") : NULL;

  return info != NULL && info->balloon.stats_period_sec == want->period;
}

static gboolean
record_gone (gpointer data)
{
  const Fixture *f = data;

  return !g_file_test (f->record, G_FILE_TEST_EXISTS);
}

/* The actuator took note of the period it set (its callback ran). */
static gboolean
noted (gpointer data)
{
  return sp_balloon_actuator_get_n_periods_set (data) >= 1;
}

static void
iterate_until (gboolean (*done) (gpointer data), gpointer data)
{
  SpTestTimeout timeout;

  sp_test_timeout_start (&timeout, 20);
  while (!timeout.expired && !done (data))
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
}

static void
wait_seen (Fixture *f, guint period)
{
  Want want = { f, period };

  sp_libvirt_queue_refresh (f->watch.libvirt);
  iterate_until (seen_with, &want);
}

/* A decision in mode, with rep as a target (managed or not). */
static SpSnapshot *
snapshot_for (Fixture *f, SpBalloonMode mode, gboolean managed)
{
  SpSnapshot *s = sp_snapshot_new ();
  SpBalloonTarget *t = g_new0 (SpBalloonTarget, 1);

  s->config = sp_config_new_default ();
  s->config->balloon = mode;
  s->guests = sp_guests_ref (f->watch.last);
  s->balloon = sp_balloon_decision_new ();
  s->balloon->mode = mode;
  t->name = g_strdup ("rep");
  t->uuid = g_strdup (REP_UUID);
  t->managed = managed;
  t->action = SP_BALLOON_ACTION_NONE;
  t->reason = g_strdup ("no pressure");
  g_ptr_array_add (s->balloon->targets, t);
  return s;
}

static SpBalloonActuator *
actuator_new (Fixture *f)
{
  SpBalloonActuator *a = SP_BALLOON_ACTUATOR (sp_balloon_actuator_new (f->watch.libvirt, FALSE));

  sp_balloon_actuator_set_state_dir (a, f->state_dir);
  g_assert_cmpstr (sp_balloon_actuator_get_record_path (a), ==, f->record);
  return a;
}

static gboolean
record_has (Fixture *f, const char *uuid)
{
  g_autoptr (GHashTable) periods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_balloon_periods_load (f->record, periods, &error));
  g_assert_no_error (error);
  return g_hash_table_contains (periods, uuid);
}

/* Sets rep's period through the actuator (balloon auto, managed), then
 * drops the actuator without restore: as if samepaged was killed. */
static void
set_then_crash (Fixture *f)
{
  g_autoptr (SpBalloonActuator) a = actuator_new (f);
  g_autoptr (SpSnapshot) s = NULL;

  wait_seen (f, 0);
  s = snapshot_for (f, SP_BALLOON_MODE_AUTO, TRUE);
  sp_actuator_apply (SP_ACTUATOR (a), s);
  /* recorded before it is set: the file is there as the job runs */
  g_assert_true (record_has (f, REP_UUID));
  iterate_until (noted, a);
  g_assert_cmpuint (sp_balloon_actuator_get_n_periods_set (a), ==, 1);
  g_assert_cmpuint (live_period (f), ==, 5);
}

static void
test_record_survives_and_restores (Fixture *f, gconstpointer data)
{
  g_autoptr (SpBalloonActuator) next = NULL;
  g_autoptr (SpSnapshot) managed = NULL;
  g_autoptr (SpSnapshot) off = NULL;
  Want zero = { f, 0 };

  set_then_crash (f);
  /* the actuator is gone without restore: period and record stay */
  g_assert_true (g_file_test (f->record, G_FILE_TEST_EXISTS));
  g_assert_true (record_has (f, REP_UUID));
  g_assert_cmpuint (live_period (f), ==, 5);
  wait_seen (f, 5);

  /* the next samepaged, balloon still auto and rep managed: kept */
  next = actuator_new (f);
  managed = snapshot_for (f, SP_BALLOON_MODE_AUTO, TRUE);
  sp_actuator_apply (SP_ACTUATOR (next), managed);
  sp_test_settle (300);
  g_assert_cmpuint (live_period (f), ==, 5);
  g_assert_true (record_has (f, REP_UUID));

  /* balloon off: samepaged no longer manages it, so the period goes back */
  off = snapshot_for (f, SP_BALLOON_MODE_OFF, FALSE);
  sp_actuator_apply (SP_ACTUATOR (next), off);
  iterate_until (period_is, &zero);
  g_assert_cmpuint (live_period (f), ==, 0);
  iterate_until (record_gone, f);
  g_assert_false (g_file_test (f->record, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (sp_test_log_count ("INFO rep Memory stats period of rep put back to 0*"), ==,
                    1);
  /* nothing left for the exit */
  g_assert_true (sp_actuator_restore (SP_ACTUATOR (next), NULL));
}

static void
test_opted_out_put_back (Fixture *f, gconstpointer data)
{
  g_autoptr (SpBalloonActuator) next = NULL;
  g_autoptr (SpSnapshot) opted_out = NULL;
  Want zero = { f, 0 };

  set_then_crash (f);
  wait_seen (f, 5);
  next = actuator_new (f);
  /* auto, but rep opted out */
  opted_out = snapshot_for (f, SP_BALLOON_MODE_AUTO, FALSE);
  sp_actuator_apply (SP_ACTUATOR (next), opted_out);
  iterate_until (period_is, &zero);
  iterate_until (record_gone, f);
  g_assert_false (g_file_test (f->record, G_FILE_TEST_EXISTS));
}

static void
test_stale_records_dropped (Fixture *f, gconstpointer data)
{
  g_autoptr (GHashTable) stale = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (SpBalloonActuator) a = NULL;
  g_autoptr (SpSnapshot) s = NULL;
  g_autoptr (GError) error = NULL;

  /* an undefined domain and a shut-off one: nothing to put back */
  g_hash_table_insert (stale, GONE_UUID, "gone");
  g_hash_table_insert (stale, STOPPED_UUID, "stopped");
  g_assert_true (sp_balloon_periods_save (f->record, stale, &error));
  g_assert_no_error (error);
  a = actuator_new (f);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE *set the memory stats period of 2 domain(s)*"), ==,
                    1);
  wait_seen (f, 0);
  s = snapshot_for (f, SP_BALLOON_MODE_OFF, FALSE);
  sp_actuator_apply (SP_ACTUATOR (a), s);
  g_assert_false (g_file_test (f->record, G_FILE_TEST_EXISTS));
  g_assert_true (sp_actuator_restore (SP_ACTUATOR (a), &error));
  g_assert_no_error (error);
}

static void
test_leave_puts_back (Fixture *f, gconstpointer data)
{
  g_autoptr (SpBalloonActuator) a = actuator_new (f);
  g_autoptr (SpSnapshot) s = NULL;

  wait_seen (f, 0);
  s = snapshot_for (f, SP_BALLOON_MODE_AUTO, TRUE);
  sp_actuator_apply (SP_ACTUATOR (a), s);
  iterate_until (noted, a);
  g_assert_cmpuint (live_period (f), ==, 5);
  /* restore_on_exit=false leaves the KSM knobs, not the periods */
  sp_actuator_leave (SP_ACTUATOR (a));
  g_assert_cmpuint (live_period (f), ==, 0);
  g_assert_false (g_file_test (f->record, G_FILE_TEST_EXISTS));
}

static void
test_record_file (void)
{
  g_autofree char *dir = sp_test_make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "sub", SP_BALLOON_PERIODS_FILE, NULL);
  g_autoptr (GHashTable) periods = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) loaded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GError) error = NULL;

  /* missing: no record */
  g_assert_true (sp_balloon_periods_load (path, loaded, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (loaded), ==, 0);

  /* saved (its directory created), loaded back */
  g_hash_table_insert (periods, REP_UUID, "rep");
  g_hash_table_insert (periods, GONE_UUID, "web 1");
  g_assert_true (sp_balloon_periods_save (path, periods, &error));
  g_assert_no_error (error);
  g_assert_true (sp_balloon_periods_load (path, loaded, &error));
  g_assert_cmpuint (g_hash_table_size (loaded), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (loaded, GONE_UUID), ==, "web 1");

  /* empty: the file goes */
  g_hash_table_remove_all (periods);
  g_assert_true (sp_balloon_periods_save (path, periods, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* not a UUID, not a key file: errors naming the file, nothing added */
  g_hash_table_remove_all (loaded);
  sp_test_write_file (path, "[periods]\nweb1=web1\n", -1);
  g_assert_false (sp_balloon_periods_load (path, loaded, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  sp_test_write_file (path, "no group\n", -1);
  g_assert_false (sp_balloon_periods_load (path, loaded, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_cmpuint (g_hash_table_size (loaded), ==, 0);
  sp_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
#define ADD(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)
  ADD ("/balloon-periods/record-survives-and-restores", test_record_survives_and_restores);
  ADD ("/balloon-periods/opted-out-put-back", test_opted_out_put_back);
  ADD ("/balloon-periods/stale-records-dropped", test_stale_records_dropped);
  ADD ("/balloon-periods/leave-puts-back", test_leave_puts_back);
  g_test_add_func ("/balloon-periods/record-file", test_record_file);
  return g_test_run ();
}
