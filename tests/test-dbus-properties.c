/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus properties as pure functions of the snapshot: every Manager and
 * Domain property says what the snapshot (and the config in effect) says,
 * they are exactly the properties of the introspection XML, the start-up
 * check catches a missing, extra or mistyped property, and domain object
 * paths are built from UUIDs.
 */
#define G_LOG_DOMAIN "test-dbus-properties"

#include "config.h"
#include "sp-config-variant.h"

#include <string.h>

#include "sp-dbus-properties.h"
#include "sp-error.h"
#include "sp-names.h"
#include "sp-resources.h"
#include "sp-test.h"
#include "sp-tuner.h"

typedef struct {
  char *root;
  SpTuner *tuner;
  GDBusNodeInfo *introspection;
  GDBusInterfaceInfo *manager_info;
  GDBusInterfaceInfo *domain_info;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *xml = NULL;
  gsize size;
  const char *contents;

  f->root = sp_test_make_tmp_dir ();
  f->tuner = sp_test_tuner_new (f->root, NULL);

  bytes = g_resource_lookup_data (sp_get_resource (), "/org/samepage1/org.samepage1.Manager.xml",
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  contents = g_bytes_get_data (bytes, &size);
  xml = g_strndup (contents, size);
  f->introspection = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  f->manager_info = g_dbus_node_info_lookup_interface (f->introspection, SP_DBUS_INTERFACE_MANAGER);
  f->domain_info = g_dbus_node_info_lookup_interface (f->introspection, SP_DBUS_INTERFACE_DOMAIN);
  g_assert_nonnull (f->manager_info);
  g_assert_nonnull (f->domain_info);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->tuner);
  g_clear_pointer (&f->introspection, g_dbus_node_info_unref);
  sp_test_remove_tree (f->root);
  g_free (f->root);
}

static GVariant *
lookup (GVariant *dict, const char *name, const char *type)
{
  GVariant *value = g_variant_lookup_value (dict, name, G_VARIANT_TYPE (type));

  if (value == NULL)
    g_error ("no property %s of type %s", name, type);
  return value;
}

static guint64
get_u64 (GVariant *dict, const char *name)
{
  g_autoptr (GVariant) value = lookup (dict, name, "t");

  return g_variant_get_uint64 (value);
}

static void
assert_string (GVariant *dict, const char *name, const char *expected)
{
  g_autoptr (GVariant) value = lookup (dict, name, "s");

  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, expected);
}

static void
assert_boolean (GVariant *dict, const char *name, gboolean expected)
{
  g_autoptr (GVariant) value = lookup (dict, name, "b");

  g_assert_cmpint (g_variant_get_boolean (value), ==, expected);
}

static void
test_manager_snapshot (Fixture *f, gconstpointer data)
{
  SpSnapshot *snapshot = sp_tuner_get_snapshot (f->tuner);
  const SpKsmState *ksm = &snapshot->ksm;
  g_autoptr (SpConfig) config = sp_config_copy (sp_tuner_get_config (f->tuner));
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) tuning = NULL;
  g_autoptr (GVariant) expected_tuning = NULL;
  g_autoptr (GVariant) files = NULL;
  g_autoptr (GVariant) run = NULL;
  g_autoptr (GVariant) api = NULL;
  gint64 pages_to_scan;

  /* the config in effect, not the snapshot's: a setter shows at once */
  config->mode = SP_MODE_NEVER;
  config->npages_max = 4321;
  g_assert_cmpint (snapshot->config->mode, !=, SP_MODE_NEVER);
  props = g_variant_ref_sink (sp_dbus_manager_properties (snapshot, config));

  g_assert_true (ksm->available);
  assert_string (props, "Version", PACKAGE_VERSION);
  api = lookup (props, "ApiVersion", "u");
  g_assert_cmpuint (g_variant_get_uint32 (api), ==, SP_DBUS_API_VERSION);
  assert_string (props, "Mode", "never");
  assert_boolean (props, "DryRun", TRUE);
  assert_boolean (props, "KsmAvailable", TRUE);
  run = lookup (props, "Run", "u");
  g_assert_cmpint (g_variant_get_uint32 (run), ==, sp_ksm_state_get (ksm, SP_KSM_RUN));
  pages_to_scan = sp_ksm_state_get (ksm, SP_KSM_PAGES_TO_SCAN);
  g_assert_cmpint (pages_to_scan, >, 0);
  g_assert_cmpuint (get_u64 (props, "PagesToScan"), ==, (guint64) pages_to_scan);
  g_assert_cmpuint (get_u64 (props, "SleepMillisecs"), ==,
                    (guint64) sp_ksm_state_get (ksm, SP_KSM_SLEEP_MILLISECS));
  g_assert_cmpuint (get_u64 (props, "PagesSharing"), ==,
                    (guint64) sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARING));
  g_assert_cmpuint (get_u64 (props, "SavedKiB"), ==, sp_ksm_state_saved_kib (ksm));
  g_assert_cmpuint (get_u64 (props, "MemTotalKiB"), ==, snapshot->mem.total_kib);
  g_assert_cmpuint (snapshot->mem.total_kib, >, 0);
  g_assert_cmpuint (get_u64 (props, "MemAvailableKiB"), ==, snapshot->mem.available_kib);
  g_assert_cmpuint (get_u64 (props, "FreeKiB"), ==, snapshot->decision.free_kib);
  g_assert_cmpuint (get_u64 (props, "ThresholdKiB"), ==, snapshot->decision.threshold_kib);
  g_assert_cmpuint (get_u64 (props, "CommittedKiB"), ==, snapshot->guests->committed_kib);
  g_assert_cmpuint (get_u64 (props, "LastDecisionTime"), ==, (guint64) snapshot->time_us);
  assert_string (props, "LastAction", sp_action_to_string (snapshot->decision.action));
  assert_string (props, "LastReason", snapshot->decision.reason);
  assert_string (props, "LibvirtUri", "");
  assert_boolean (props, "LibvirtConnected", FALSE);

  /* every KSM file the kernel has, by its sysfs name */
  files = lookup (props, "KsmFiles", "a{sx}");
  for (guint field = 0; field < SP_KSM_N_FIELDS; field++)
    {
      gint64 value;

      if (!sp_ksm_state_has (ksm, field))
        continue;
      g_assert_true (g_variant_lookup (files, sp_ksm_field_name (field), "x", &value));
      g_assert_cmpint (value, ==, ksm->values[field]);
    }

  tuning = lookup (props, "Tuning", "a{sv}");
  expected_tuning = g_variant_ref_sink (sp_config_tuning_to_variant (config));
  g_assert_true (g_variant_equal (tuning, expected_tuning));
}

/* Counters the kernel keeps as unsigned never go out as huge numbers. */
static void
test_manager_negative (Fixture *f, gconstpointer data)
{
  g_autoptr (SpSnapshot) snapshot = sp_snapshot_new ();
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GError) error = NULL;

  snapshot->guests = sp_guests_new ();
  snapshot->config = sp_config_copy (config);
  snapshot->ksm.available = TRUE;
  snapshot->ksm.present = G_GUINT64_CONSTANT (1) << SP_KSM_PAGES_SHARED;
  snapshot->ksm.values[SP_KSM_PAGES_SHARED] = -5;
  snapshot->time_us = -1;
  props = g_variant_ref_sink (sp_dbus_manager_properties (snapshot, config));
  g_assert_cmpuint (get_u64 (props, "PagesShared"), ==, 0);
  g_assert_cmpuint (get_u64 (props, "LastDecisionTime"), ==, 0);
  /* strings that are NULL go out empty, still of the XML's types */
  assert_string (props, "LastReason", "");
  assert_string (props, "LibvirtStatus", "");
  assert_string (props, "AdvisorMode", "");
  g_assert_true (sp_dbus_check_properties (f->manager_info,
                                           sp_dbus_manager_properties (snapshot, config), &error));
  g_assert_no_error (error);
}

static void
test_domain (Fixture *f, gconstpointer data)
{
  g_autoptr (SpDomainInfo) d = sp_domain_info_new ();
  g_autoptr (SpDomainInfo) empty = sp_domain_info_new ();
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) empty_props = NULL;
  g_autoptr (GVariant) pid = NULL;
  g_autoptr (GVariant) merging = NULL;

  d->name = g_strdup ("web1");
  d->uuid = g_strdup ("a1a1a1a1-1111-4111-8111-111111111111");
  d->active = TRUE;
  d->persistent = TRUE;
  d->current_kib = 1048576;
  d->maximum_kib = 2097152;
  d->memory_source = g_strdup ("balloon");
  d->mem_merge = FALSE;
  d->mem_merge_active = TRUE;
  d->pending_restart = TRUE;
  d->mergeable = FALSE;
  d->unmergeable_reason = g_strdup ("hugepages");
  d->pid = 4242;
  d->ksm_merging_pages = 77;

  props = g_variant_ref_sink (sp_dbus_domain_properties (d, NULL));
  assert_string (props, "Name", "web1");
  assert_string (props, "Uuid", d->uuid);
  assert_boolean (props, "Active", TRUE);
  assert_boolean (props, "Persistent", TRUE);
  g_assert_cmpuint (get_u64 (props, "CurrentKiB"), ==, 1048576);
  g_assert_cmpuint (get_u64 (props, "MaximumKiB"), ==, 2097152);
  assert_string (props, "MemorySource", "balloon");
  assert_boolean (props, "MemMerge", FALSE);
  assert_boolean (props, "MemMergeActive", TRUE);
  assert_boolean (props, "PendingRestart", TRUE);
  assert_boolean (props, "Mergeable", FALSE);
  assert_string (props, "UnmergeableReason", "hugepages");
  pid = lookup (props, "Pid", "x");
  g_assert_cmpint (g_variant_get_int64 (pid), ==, 4242);
  merging = lookup (props, "MergingPages", "x");
  g_assert_cmpint (g_variant_get_int64 (merging), ==, 77);

  empty_props = g_variant_ref_sink (sp_dbus_domain_properties (empty, NULL));
  assert_string (empty_props, "Name", "");
  assert_string (empty_props, "Uuid", "");
  assert_string (empty_props, "UnmergeableReason", "");
}

static SpBalloonTarget *
balloon_target_new (const char *uuid, SpBalloonAction action, guint64 current_kib,
                    guint64 target_kib, guint64 floor_kib, const char *reason)
{
  SpBalloonTarget *target = g_new0 (SpBalloonTarget, 1);

  target->name = g_strdup ("whatever");
  target->uuid = g_strdup (uuid);
  target->action = action;
  target->managed = action != SP_BALLOON_ACTION_NONE;
  target->current_kib = current_kib;
  target->target_kib = target_kib;
  target->floor_kib = floor_kib;
  target->reason = g_strdup (reason);
  return target;
}

/* The domain's balloon properties of the domain with this UUID. */
static GVariant *
balloon_props (const char *uuid, const SpBalloonDecision *balloon)
{
  g_autoptr (SpDomainInfo) d = sp_domain_info_new ();

  d->name = g_strdup ("g");
  d->uuid = g_strdup (uuid);
  d->current_kib = 262144;
  d->balloon.has_available = TRUE;
  d->balloon.available_kib = 250000;
  return g_variant_ref_sink (sp_dbus_domain_properties (d, balloon));
}

/* Each Domain shows its own target of the balloon decision: found by UUID,
 * "timed-out" over the action when the actuator marked it, nothing (0,
 * "none", "") without a target or without a decision. */
static void
test_domain_balloon (Fixture *f, gconstpointer data)
{
  g_autoptr (SpBalloonDecision) balloon = sp_balloon_decision_new ();
  SpBalloonTarget *late;
  const char *shrink_uuid = "a1a1a1a1-1111-4111-8111-111111111111";
  const char *late_uuid = "b2b2b2b2-2222-4222-8222-222222222222";
  const char *hold_uuid = "c3c3c3c3-3333-4333-8333-333333333333";
  const char *grow_uuid = "d4d4d4d4-4444-4444-8444-444444444444";
  const char *absent_uuid = "e5e5e5e5-5555-4555-8555-555555555555";

  g_ptr_array_add (balloon->targets, balloon_target_new (hold_uuid, SP_BALLOON_ACTION_HOLD, 300000,
                                                         300000, 200000, "at its floor 195.3 MiB"));
  g_ptr_array_add (balloon->targets,
                   balloon_target_new (shrink_uuid, SP_BALLOON_ACTION_SHRINK, 262144, 235930,
                                       131072, "pressure: shrink to 230.4 MiB"));
  late = balloon_target_new (late_uuid, SP_BALLOON_ACTION_SHRINK, 262144, 200000, 150000,
                             "pressure: shrink to 195.3 MiB");
  late->timed_out = TRUE;
  g_ptr_array_add (balloon->targets, late);
  g_ptr_array_add (balloon->targets,
                   balloon_target_new (grow_uuid, SP_BALLOON_ACTION_GROW, 200000, 226214, 100000,
                                       "no pressure: grow to 220.9 MiB"));

  {
    g_autoptr (GVariant) props = balloon_props (shrink_uuid, balloon);

    g_assert_cmpuint (get_u64 (props, "BalloonTargetKiB"), ==, 235930);
    g_assert_cmpuint (get_u64 (props, "BalloonFloorKiB"), ==, 131072);
    assert_string (props, "BalloonState", "shrink");
    assert_string (props, "BalloonReason", "pressure: shrink to 230.4 MiB");
    g_assert_cmpuint (get_u64 (props, "GuestAvailableKiB"), ==, 250000);
  }
  {
    g_autoptr (GVariant) props = balloon_props (late_uuid, balloon);

    g_assert_cmpuint (get_u64 (props, "BalloonTargetKiB"), ==, 200000);
    g_assert_cmpuint (get_u64 (props, "BalloonFloorKiB"), ==, 150000);
    assert_string (props, "BalloonState", "timed-out");
    assert_string (props, "BalloonReason", "pressure: shrink to 195.3 MiB");
  }
  {
    g_autoptr (GVariant) props = balloon_props (hold_uuid, balloon);

    g_assert_cmpuint (get_u64 (props, "BalloonTargetKiB"), ==, 300000);
    g_assert_cmpuint (get_u64 (props, "BalloonFloorKiB"), ==, 200000);
    assert_string (props, "BalloonState", "hold");
    assert_string (props, "BalloonReason", "at its floor 195.3 MiB");
  }
  {
    g_autoptr (GVariant) props = balloon_props (grow_uuid, balloon);

    g_assert_cmpuint (get_u64 (props, "BalloonTargetKiB"), ==, 226214);
    assert_string (props, "BalloonState", "grow");
  }
  /* no target for this domain, and no decision at all */
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GVariant) props = balloon_props (absent_uuid, i == 0 ? balloon : NULL);

      g_assert_cmpuint (get_u64 (props, "BalloonTargetKiB"), ==, 0);
      g_assert_cmpuint (get_u64 (props, "BalloonFloorKiB"), ==, 0);
      assert_string (props, "BalloonState", "none");
      assert_string (props, "BalloonReason", "");
      g_assert_cmpuint (get_u64 (props, "GuestAvailableKiB"), ==, 250000);
    }
}

/* What the start-up check accepts: exactly the XML's properties. */
static void
test_match_xml (Fixture *f, gconstpointer data)
{
  g_autoptr (SpDomainInfo) domain = sp_domain_info_new ();
  g_autoptr (GError) error = NULL;
  SpSnapshot *snapshot = sp_tuner_get_snapshot (f->tuner);

  g_assert_true (sp_dbus_check_properties (
      f->manager_info, sp_dbus_manager_properties (snapshot, sp_tuner_get_config (f->tuner)),
      &error));
  g_assert_no_error (error);
  g_assert_true (
      sp_dbus_check_properties (f->domain_info, sp_dbus_domain_properties (domain, NULL), &error));
  g_assert_no_error (error);
}

/* The manager properties with name removed, or replaced by value. */
static GVariant *
edited (Fixture *f, const char *name, GVariant *value)
{
  g_autoptr (GVariant) props = g_variant_ref_sink (sp_dbus_manager_properties (
      sp_tuner_get_snapshot (f->tuner), sp_tuner_get_config (f->tuner)));
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  GVariant *v;
  gboolean found = FALSE;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &v))
    {
      g_autoptr (GVariant) owned = v;

      if (g_strcmp0 (key, name) != 0)
        {
          g_variant_builder_add (&builder, "{sv}", key, owned);
          continue;
        }
      found = TRUE;
      if (value != NULL)
        g_variant_builder_add (&builder, "{sv}", key, value);
    }
  if (!found && value != NULL)
    g_variant_builder_add (&builder, "{sv}", name, value);
  return g_variant_builder_end (&builder);
}

static void
test_check_detects (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (sp_dbus_check_properties (f->manager_info, edited (f, "SavedKiB", NULL), &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==,
                   "org.samepage1.Manager.SavedKiB is in the introspection XML but samepaged has "
                   "no value for it");
  g_clear_error (&error);

  g_assert_false (sp_dbus_check_properties (
      f->manager_info, edited (f, "SavedKiB", g_variant_new_string ("1 GiB")), &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==,
                   "org.samepage1.Manager.SavedKiB has type 't' in the introspection XML but "
                   "samepaged computes 's'");
  g_clear_error (&error);

  g_assert_false (sp_dbus_check_properties (
      f->manager_info, edited (f, "Extra", g_variant_new_boolean (TRUE)), &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, "samepaged computes "));
  g_assert_nonnull (strstr (error->message, " properties of org.samepage1.Manager, the "
                                            "introspection XML has "));
}

static void
test_object_path (void)
{
  const struct {
    const char *uuid;
    const char *path;
  } cases[] = {
    { "a1a1a1a1-1111-4111-8111-111111111111",
      "/org/samepage1/domain/a1a1a1a1_1111_4111_8111_111111111111" },
    { "C3C3c3c3-3333-4333-8333-333333333333",
      "/org/samepage1/domain/C3C3c3c3_3333_4333_8333_333333333333" },
    { "", NULL },
    { NULL, NULL },
    { "not a uuid", NULL },
    { "a.b", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = sp_dbus_domain_object_path (cases[i].uuid);

      g_assert_cmpstr (path, ==, cases[i].path);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();

#define ADD(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)
  ADD ("/dbus-properties/manager/snapshot", test_manager_snapshot);
  ADD ("/dbus-properties/manager/unsigned", test_manager_negative);
  ADD ("/dbus-properties/domain", test_domain);
  ADD ("/dbus-properties/domain-balloon", test_domain_balloon);
  ADD ("/dbus-properties/match-xml", test_match_xml);
  ADD ("/dbus-properties/check-detects", test_check_detects);
#undef ADD
  g_test_add_func ("/dbus-properties/object-path", test_object_path);

  return g_test_run ();
}
