/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The balloon actuator and SetBalloon's writer on libvirt's test driver
 * (tests/data/libvirt/merge-node.xml): a target reaches the domain's memory
 * through virDomainSetMemoryFlags, the same target is not sent twice, a
 * target not reached in time is marked, a dry run sends nothing; SetBalloon's
 * metadata lands in the persistent XML. */
#define G_LOG_DOMAIN "test-balloon-actuator"

#include <string.h>

#include "sp-balloon-actuator.h"
#include "sp-balloon-settings.h"
#include "sp-balloon-xml.h"
#include "sp-libvirt-util.h"
#include "sp-test.h"

#define RUNNING_UUID "a1a1a1a1-1111-4111-8111-111111111111"

typedef struct {
  SpTestWatch watch;
  virConnectPtr conn;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  memset (f, 0, sizeof (*f));
  sp_test_log_clear ();
  sp_test_watch_start (&f->watch, "merge-node.xml");
  /* the watcher's connection: a test:///<file> driver is private to it */
  f->conn = sp_libvirt_ref_connection (f->watch.libvirt);
  g_assert_nonnull (f->conn);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->conn, virConnectClose);
  sp_test_watch_stop (&f->watch);
}

static guint64
memory_kib (Fixture *f)
{
  g_autoptr (virDomain) dom = virDomainLookupByUUIDString (f->conn, RUNNING_UUID);
  virDomainInfo info;

  g_assert_nonnull (dom);
  g_assert_cmpint (virDomainGetInfo (dom, &info), ==, 0);
  return info.memory;
}

/* A snapshot with one target for "running". */
static SpSnapshot *
snapshot_with_target (Fixture *f, const SpConfig *config, SpBalloonAction action,
                      guint64 target_kib)
{
  SpSnapshot *s = sp_snapshot_new ();
  SpBalloonTarget *t = g_new0 (SpBalloonTarget, 1);

  s->config = sp_config_copy (config);
  s->guests = sp_guests_ref (f->watch.last);
  s->balloon = sp_balloon_decision_new ();
  s->balloon->mode = SP_BALLOON_MODE_AUTO;
  t->name = g_strdup ("running");
  t->uuid = g_strdup (RUNNING_UUID);
  t->managed = TRUE;
  t->action = action;
  t->current_kib = memory_kib (f);
  t->target_kib = target_kib;
  t->reason = g_strdup ("pressure: shrink to 400.0 MiB");
  g_ptr_array_add (s->balloon->targets, t);
  return s;
}

static void
iterate_until (gboolean (*done) (Fixture *f, gpointer data), Fixture *f, gpointer data)
{
  SpTestTimeout timeout;

  sp_test_timeout_start (&timeout, 20);
  while (!timeout.expired && !done (f, data))
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
}

static gboolean
targets_set (Fixture *f, gpointer data)
{
  return sp_balloon_actuator_get_n_targets_set (data) >= 1;
}

static void
test_apply (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpActuator) actuator = sp_balloon_actuator_new (f->watch.libvirt, FALSE);
  g_autoptr (SpSnapshot) first = NULL;
  g_autoptr (SpSnapshot) again = NULL;
  g_autoptr (SpSnapshot) late = NULL;
  g_autoptr (GError) error = NULL;

  config->balloon = SP_BALLOON_MODE_AUTO;
  config->balloon_timeout_sec = 1;
  g_assert_cmpuint (memory_kib (f), ==, 524288);

  first = snapshot_with_target (f, config, SP_BALLOON_ACTION_SHRINK, 409600);
  sp_actuator_apply (actuator, first);
  iterate_until (targets_set, f, actuator);
  g_assert_cmpuint (sp_balloon_actuator_get_n_targets_set (SP_BALLOON_ACTUATOR (actuator)), ==, 1);
  g_assert_cmpuint (memory_kib (f), ==, 409600);
  g_assert_cmpuint (sp_test_log_count ("INFO running Balloon of running: pressure: shrink to*"), ==,
                    1);
  g_assert_false (((SpBalloonTarget *) first->balloon->targets->pdata[0])->timed_out);

  /* the same target again: not sent again, not yet timed out */
  again = snapshot_with_target (f, config, SP_BALLOON_ACTION_SHRINK, 409600);
  sp_actuator_apply (actuator, again);
  g_assert_false (((SpBalloonTarget *) again->balloon->targets->pdata[0])->timed_out);
  sp_test_settle (1100);
  g_assert_cmpuint (sp_balloon_actuator_get_n_targets_set (SP_BALLOON_ACTUATOR (actuator)), ==, 1);

  /* still the same target after target_timeout: marked and reported once */
  late = snapshot_with_target (f, config, SP_BALLOON_ACTION_SHRINK, 409600);
  sp_actuator_apply (actuator, late);
  g_assert_true (((SpBalloonTarget *) late->balloon->targets->pdata[0])->timed_out);
  g_assert_cmpuint (sp_test_log_count ("WARNING Balloon of running did not reach*"), ==, 1);

  /* on exit: no stats period was set, nothing to put back, no balloon set */
  g_assert_true (sp_actuator_restore (actuator, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (memory_kib (f), ==, 409600);
}

static void
test_dry_run (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpActuator) actuator = sp_balloon_actuator_new (f->watch.libvirt, TRUE);
  g_autoptr (SpSnapshot) s = NULL;

  config->balloon = SP_BALLOON_MODE_AUTO;
  s = snapshot_with_target (f, config, SP_BALLOON_ACTION_SHRINK, 409600);
  sp_actuator_apply (actuator, s);
  sp_test_settle (300);
  g_assert_cmpuint (sp_balloon_actuator_get_n_targets_set (SP_BALLOON_ACTUATOR (actuator)), ==, 0);
  g_assert_cmpuint (memory_kib (f), ==, 524288);
  g_assert_cmpuint (sp_test_log_count ("INFO running Balloon of running: * (dry run: not set)"), ==,
                    1);
}

static void
on_set (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GError **error = user_data;

  if (!sp_balloon_settings_set_finish (SP_BALLOON_SETTINGS (source), result, error))
    g_assert_nonnull (*error);
  else
    *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_EXISTS, "done");
}

static gboolean
set_done (Fixture *f, gpointer data)
{
  return *(GError **) data != NULL;
}

static void
test_settings_metadata (Fixture *f, gconstpointer data)
{
  g_autoptr (SpBalloonSettings) settings = sp_balloon_settings_new (f->watch.libvirt);
  g_autoptr (virDomain) dom = virDomainLookupByUUIDString (f->conn, RUNNING_UUID);
  const SpDomainInfo *info = sp_guests_find (f->watch.last, "running");
  SpBalloonChange change = {
    .has_metadata = TRUE, .managed = FALSE, .has_min = TRUE, .min_kib = 262144
  };
  g_autoptr (GError) result = NULL;
  g_autofree char *config_meta = NULL;
  g_autofree char *xml = NULL;

  g_assert_nonnull (info);
  sp_balloon_settings_set_async (settings, info, &change, "uid 0 (:1.1)", on_set, &result);
  iterate_until (set_done, f, &result);
  g_assert_error (result, G_IO_ERROR, G_IO_ERROR_EXISTS); /* completed without error */
  config_meta = virDomainGetMetadata (dom, VIR_DOMAIN_METADATA_ELEMENT, SP_BALLOON_METADATA_URI,
                                      VIR_DOMAIN_AFFECT_CONFIG);
  g_assert_nonnull (config_meta);
  g_assert_nonnull (strstr (config_meta, "managed=\"no\""));
  g_assert_nonnull (strstr (config_meta, "min-kib=\"262144\""));
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Balloon settings of domain running: opted out, min "
                                       "256.0 MiB, asked by uid 0 (:1.1)"),
                    ==, 1);
  /* the other metadata survives */
  xml = virDomainGetXMLDesc (dom, VIR_DOMAIN_XML_INACTIVE);
  g_assert_nonnull (strstr (xml, "urn:example:app"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
#define ADD(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)
  ADD ("/balloon-actuator/apply", test_apply);
  ADD ("/balloon-actuator/dry-run", test_dry_run);
  ADD ("/balloon-actuator/settings-metadata", test_settings_metadata);
  return g_test_run ();
}
