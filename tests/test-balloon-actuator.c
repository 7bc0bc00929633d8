/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The balloon actuator and SetBalloon's writer on libvirt's test driver
 * (tests/data/libvirt/merge-node.xml): a target reaches the domain's memory
 * through virDomainSetMemoryFlags, the same target is not sent twice, a
 * target not reached in time is marked, a dry run sends nothing; SetBalloon's
 * metadata lands in the persistent XML; its "reporting" changes the
 * persistent <memballoon> only (pending until a cold start), and a domain
 * without a virtio balloon is refused with nothing changed. */
#define G_LOG_DOMAIN "test-balloon-actuator"

#include <string.h>

#include "sp-balloon-actuator.h"
#include "sp-balloon-settings.h"
#include "sp-balloon-xml.h"
#include "sp-error.h"
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
  /* answered once the published guests show it (what D-Bus reads next) */
  info = sp_guests_find (sp_libvirt_get_guests (f->watch.libvirt), "running");
  g_assert_false (info->balloon.managed);
  g_assert_true (info->balloon.has_min);
  g_assert_cmpuint (info->balloon.min_kib, ==, 262144);
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

/* A domain defined on the watcher's private test driver, started. */
static virDomainPtr
define_started (Fixture *f, const char *name, const char *uuid, const char *balloon)
{
  g_autofree char *xml = g_strdup_printf ("<domain type='test'><name>%s</name><uuid>%s</uuid>"
                                          "<memory unit='MiB'>256</memory><os><type>hvm</type></os>"
                                          "<devices>%s</devices></domain>",
                                          name, uuid, balloon);
  virDomainPtr dom = virDomainDefineXML (f->conn, xml);

  g_assert_nonnull (dom);
  g_assert_cmpint (virDomainCreate (dom), ==, 0);
  return dom;
}

typedef struct {
  const char *name;
  gboolean reporting;        /* the persistent config's, as the watcher shows it */
  gboolean reporting_active; /* the running one's */
} Shown;

static gboolean
shown (Fixture *f, gpointer data)
{
  const Shown *want = data;
  const SpDomainInfo *info = f->watch.last ? sp_guests_find (f->watch.last, want->name) : NULL;

  return info != NULL && info->balloon.free_page_reporting == want->reporting &&
         info->balloon.free_page_reporting_active == want->reporting_active;
}

static void
set_change (Fixture *f, SpBalloonSettings *settings, const char *name,
            const SpBalloonChange *change, GError **result)
{
  const SpDomainInfo *info = sp_guests_find (f->watch.last, name);

  g_assert_nonnull (info);
  sp_balloon_settings_set_async (settings, info, change, "uid 0 (:1.1)", on_set, result);
  iterate_until (set_done, f, result);
}

static void
test_settings_reporting (Fixture *f, gconstpointer data)
{
  g_autoptr (SpBalloonSettings) settings = sp_balloon_settings_new (f->watch.libvirt);
  g_autoptr (virDomain) dom =
      define_started (f, "rep", "f6f6f6f6-6666-4666-8666-666666666666",
                      "<memballoon model='virtio'><stats period='5'/></memballoon>");
  g_autoptr (virDomain) none = define_started (
      f, "rep-none", "f7f7f7f7-7777-4777-8777-777777777777", "<memballoon model='none'/>");
  SpBalloonChange on = { .has_reporting = TRUE, .reporting = TRUE };
  SpBalloonChange on_and_shares = { .has_reporting = TRUE,
                                    .reporting = TRUE,
                                    .has_metadata = TRUE,
                                    .managed = TRUE,
                                    .has_shares = TRUE,
                                    .shares = 9 };
  SpBalloonChange off = { .has_reporting = TRUE, .reporting = FALSE };
  Shown before = { "rep", FALSE, FALSE };
  Shown pending = { "rep", TRUE, FALSE };
  Shown none_seen = { "rep-none", FALSE, FALSE };
  g_autoptr (GError) result = NULL;
  g_autofree char *config = NULL;
  g_autofree char *live = NULL;
  g_autofree char *none_before = NULL;
  g_autofree char *none_after = NULL;
  g_autofree char *none_meta = NULL;
  g_autofree char *before_xml = NULL;

  sp_libvirt_queue_refresh (f->watch.libvirt);
  iterate_until (shown, f, &before);
  iterate_until (shown, f, &none_seen);
  before_xml = virDomainGetXMLDesc (dom, VIR_DOMAIN_XML_INACTIVE);

  /* on: the persistent config only; the running domain keeps off */
  set_change (f, settings, "rep", &on, &result);
  g_assert_error (result, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&result);
  config = virDomainGetXMLDesc (dom, VIR_DOMAIN_XML_INACTIVE);
  live = virDomainGetXMLDesc (dom, 0);
  g_assert_nonnull (strstr (config, "freePageReporting='on'"));
  g_assert_null (strstr (live, "freePageReporting"));
  /* nothing else of the config changed */
  {
    g_autoptr (GString) expected = g_string_new (before_xml);

    g_string_replace (expected, "<memballoon model='virtio'>",
                      "<memballoon model='virtio' freePageReporting='on'>", 1);
    g_assert_cmpstr (config, ==, expected->str);
  }
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Free page reporting of domain rep (persistent "
                                       "config): off → on, asked by uid 0 (:1.1)"),
                    ==, 1);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Domain rep runs with free page reporting off "
                                       "until its next cold start*"),
                    ==, 1);
  /* the watcher shows it pending: persistent on, running off */
  iterate_until (shown, f, &pending);
  g_assert_true (shown (f, &pending));

  /* again, with shares: reporting is already on (nothing defined), the metadata is written */
  set_change (f, settings, "rep", &on_and_shares, &result);
  g_assert_error (result, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&result);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Free page reporting of domain rep*"), ==, 1);
  g_free (config);
  config = virDomainGetMetadata (dom, VIR_DOMAIN_METADATA_ELEMENT, SP_BALLOON_METADATA_URI,
                                 VIR_DOMAIN_AFFECT_CONFIG);
  g_assert_nonnull (config);
  g_assert_nonnull (strstr (config, "shares=\"9\""));

  /* a cold start applies it */
  g_assert_cmpint (virDomainDestroy (dom), ==, 0);
  g_assert_cmpint (virDomainCreate (dom), ==, 0);
  g_free (live);
  live = virDomainGetXMLDesc (dom, 0);
  g_assert_nonnull (strstr (live, "freePageReporting='on'"));

  /* off: written as off */
  set_change (f, settings, "rep", &off, &result);
  g_assert_error (result, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&result);
  g_free (config);
  config = virDomainGetXMLDesc (dom, VIR_DOMAIN_XML_INACTIVE);
  g_assert_nonnull (strstr (config, "freePageReporting='off'"));

  /* model='none': refused by the worker too, metadata and all, nothing changed */
  none_before = virDomainGetXMLDesc (none, VIR_DOMAIN_XML_INACTIVE);
  on_and_shares.reporting = TRUE;
  set_change (f, settings, "rep-none", &on_and_shares, &result);
  g_assert_error (result, SP_ERROR, SP_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (result->message, "Domain rep-none has <memballoon model='none'>"));
  none_after = virDomainGetXMLDesc (none, VIR_DOMAIN_XML_INACTIVE);
  g_assert_cmpstr (none_after, ==, none_before);
  none_meta = virDomainGetMetadata (none, VIR_DOMAIN_METADATA_ELEMENT, SP_BALLOON_METADATA_URI,
                                    VIR_DOMAIN_AFFECT_CONFIG);
  g_assert_null (none_meta);
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
  ADD ("/balloon-actuator/settings-reporting", test_settings_reporting);
  return g_test_run ();
}
