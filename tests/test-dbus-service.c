/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus layer on a private bus, like bolt's test-exported: SpDbusInterface
 * (one batched PropertiesChanged per main-loop iteration, getters from the
 * cached values, the one error conversion point) and SpDbusService over a
 * dry-run tuner and SpOverrides (properties are the snapshot, Domain objects
 * follow the guests, bad arguments get the right org.samepage1.Error.*
 * without an authorization, ListDomains is the Domain objects in one call
 * without one, setters reach SpOverrides, Retune emits Tuned,
 * a stopping service refuses calls). Nothing owns
 * org.freedesktop.PolicyKit1 on the bus: only root is authorized.
 */
#define G_LOG_DOMAIN "test-dbus-service"

#include "config.h"

#include <string.h>
#include <unistd.h>

#include "sp-authority.h"
#include "sp-dbus-interface.h"
#include "sp-dbus-properties.h"
#include "sp-dbus-service.h"
#include "sp-error.h"
#include "sp-libvirt.h"
#include "sp-mem-merge.h"
#include "sp-names.h"
#include "sp-overrides.h"
#include "sp-policy.h"
#include "sp-test.h"

#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"

static GTestDBus *bus;

/* ---- PropertiesChanged and Tuned, as a client sees them ------------------ */

typedef struct {
  GPtrArray *changed; /* GVariant*: the a{sv} of each PropertiesChanged */
  GPtrArray *tuned;   /* GVariant*: the (sst) of each Tuned */
  guint changed_id;
  guint tuned_id;
} Signals;

static void
on_signal (GDBusConnection *connection, const char *sender, const char *path,
           const char *interface_name, const char *signal_name, GVariant *parameters,
           gpointer user_data)
{
  Signals *s = user_data;

  if (g_str_equal (signal_name, "PropertiesChanged"))
    g_ptr_array_add (s->changed, g_variant_get_child_value (parameters, 1));
  else
    g_ptr_array_add (s->tuned, g_variant_ref (parameters));
}

static void
signals_watch (Signals *s, GDBusConnection *client, const char *path)
{
  s->changed = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  s->tuned = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  s->changed_id =
      g_dbus_connection_signal_subscribe (client, NULL, PROPERTIES_INTERFACE, "PropertiesChanged",
                                          path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, s, NULL);
  s->tuned_id =
      g_dbus_connection_signal_subscribe (client, NULL, SP_DBUS_INTERFACE_MANAGER, "Tuned", path,
                                          NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, s, NULL);
}

static void
signals_clear (Signals *s, GDBusConnection *client)
{
  g_dbus_connection_signal_unsubscribe (client, s->changed_id);
  g_dbus_connection_signal_unsubscribe (client, s->tuned_id);
  g_clear_pointer (&s->changed, g_ptr_array_unref);
  g_clear_pointer (&s->tuned, g_ptr_array_unref);
}

/* Waits until a match rule is in place on the bus: a round trip. */
static void
sync_bus (GDBusConnection *client)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply =
      sp_test_call (client, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                    "GetId", NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

static void
assert_error (GError *error, const char *name, const char *message)
{
  g_autofree char *got_name = NULL;
  g_autofree char *got_message = NULL;

  g_assert_nonnull (error);
  got_name = sp_test_error_name (error);
  got_message = sp_test_error_message (error);
  g_assert_cmpstr (got_name, ==, name);
  if (message != NULL)
    g_assert_cmpstr (got_message, ==, message);
}

/* ---- SpDbusInterface ---------------------------------------------------- */

static const char iface_xml[] = "<node><interface name='org.samepage1.Test'>"
                                "  <method name='Frob'/>"
                                "  <property name='Alpha' type='s' access='read'/>"
                                "  <property name='Beta' type='u' access='read'/>"
                                "</interface></node>";

typedef struct {
  GDBusConnection *service;
  GDBusConnection *client;
  GDBusNodeInfo *info;
  SpDbusInterface *iface;
  Signals signals;
} IfaceFixture;

static void
on_frob (GDBusConnection *connection, const char *sender, const char *object_path,
         const char *interface_name, const char *method_name, GVariant *parameters,
         GDBusMethodInvocation *invocation, gpointer user_data)
{
  g_autoptr (GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "boom");

  sp_dbus_return_error (invocation, error);
}

static GVariant *
alpha_beta (const char *alpha, guint32 beta)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", "Alpha", g_variant_new_string (alpha));
  g_variant_builder_add (&builder, "{sv}", "Beta", g_variant_new_uint32 (beta));
  return g_variant_builder_end (&builder);
}

static void
iface_setup (IfaceFixture *f, gconstpointer with_methods)
{
  g_autoptr (GError) error = NULL;

  f->service = sp_test_bus_connect (bus);
  f->client = sp_test_bus_connect (bus);
  f->info = g_dbus_node_info_new_for_xml (iface_xml, &error);
  g_assert_no_error (error);
  f->iface = sp_dbus_interface_new (f->info->interfaces[0], with_methods ? on_frob : NULL, f);
  sp_dbus_interface_update (f->iface, alpha_beta ("one", 1));
  g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (f->iface), f->service, "/test",
                                    &error);
  g_assert_no_error (error);
  signals_watch (&f->signals, f->client, "/test");
  sync_bus (f->client);
}

static void
iface_teardown (IfaceFixture *f, gconstpointer data)
{
  signals_clear (&f->signals, f->client);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (f->iface));
  g_clear_object (&f->iface);
  g_dbus_connection_close_sync (f->service, NULL, NULL);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_clear_object (&f->service);
  g_clear_object (&f->client);
  g_clear_pointer (&f->info, g_dbus_node_info_unref);
}

static GVariant *
iface_get (IfaceFixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = sp_test_call (
      f->client, g_dbus_connection_get_unique_name (f->service), "/test", PROPERTIES_INTERFACE,
      "Get", g_variant_new ("(ss)", "org.samepage1.Test", name), &error);
  GVariant *value;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static void
test_iface_batched (IfaceFixture *f, gconstpointer data)
{
  g_autoptr (GVariant) alpha = NULL;
  g_autoptr (GVariant) beta = NULL;
  GVariant *changed;
  const char *str;
  guint32 u;

  /* three updates in one iteration: one signal, with the last values */
  sp_dbus_interface_update (f->iface, alpha_beta ("two", 1));
  sp_dbus_interface_update (f->iface, alpha_beta ("two", 2));
  sp_dbus_interface_update (f->iface, alpha_beta ("three", 2));
  sp_test_settle (300);
  g_assert_cmpuint (f->signals.changed->len, ==, 1);
  changed = g_ptr_array_index (f->signals.changed, 0);
  g_assert_cmpuint (g_variant_n_children (changed), ==, 2);
  g_assert_true (g_variant_lookup (changed, "Alpha", "&s", &str));
  g_assert_cmpstr (str, ==, "three");
  g_assert_true (g_variant_lookup (changed, "Beta", "u", &u));
  g_assert_cmpuint (u, ==, 2);

  /* the getters answer the cached values */
  alpha = iface_get (f, "Alpha");
  beta = iface_get (f, "Beta");
  g_assert_cmpstr (g_variant_get_string (alpha, NULL), ==, "three");
  g_assert_cmpuint (g_variant_get_uint32 (beta), ==, 2);

  /* the same values again: no signal */
  sp_dbus_interface_update (f->iface, alpha_beta ("three", 2));
  sp_test_settle (200);
  g_assert_cmpuint (f->signals.changed->len, ==, 1);

  /* one property changed in a later iteration: a second signal, with it alone */
  sp_dbus_interface_update (f->iface, alpha_beta ("three", 3));
  sp_test_settle (200);
  g_assert_cmpuint (f->signals.changed->len, ==, 2);
  changed = g_ptr_array_index (f->signals.changed, 1);
  g_assert_cmpuint (g_variant_n_children (changed), ==, 1);
  g_assert_true (g_variant_lookup (changed, "Beta", "u", &u));
  g_assert_cmpuint (u, ==, 3);
}

/* The one conversion point: an error of another domain goes out as Failed. */
static void
test_iface_errors (IfaceFixture *f, gconstpointer with_methods)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply =
      sp_test_call (f->client, g_dbus_connection_get_unique_name (f->service), "/test",
                    "org.samepage1.Test", "Frob", NULL, &error);

  g_assert_null (reply);
  if (with_methods)
    assert_error (error, "org.samepage1.Error.Failed", "Frob failed: boom");
  else
    assert_error (error, "org.samepage1.Error.NotSupported",
                  "org.samepage1.Test has no method Frob");
}

/* ---- SpDbusService ------------------------------------------------------ */

typedef struct {
  char *root;
  char *overrides_path;
  SpTuner *tuner;
  SpOverrides *overrides;
  SpAuthority *authority;
  SpLibvirt *libvirt; /* with_libvirt: test:///<data/libvirt/merge-node.xml> */
  SpMemMerge *mem_merge;
  SpDbusService *service;
  GDBusConnection *connection;
  GDBusConnection *client;
  const char *dest;
  Signals signals;
} Fixture;

/* What samepaged does with each domain list: tune with it. */
static void
on_guests_changed (SpLibvirt *libvirt, SpGuests *guests, gpointer user_data)
{
  Fixture *f = user_data;

  sp_tuner_set_guests (f->tuner, guests);
  sp_tuner_retune (f->tuner);
}

static void
start_libvirt (Fixture *f)
{
  g_autofree char *path =
      g_test_build_filename (G_TEST_DIST, "data", "libvirt", "merge-node.xml", NULL);
  g_autofree char *abs = g_canonicalize_filename (path, NULL);
  g_autofree char *uri = g_strdup_printf ("test://%s", abs);

  f->libvirt = sp_libvirt_new (uri, "/proc", NULL);
  g_signal_connect (f->libvirt, "guests-changed", G_CALLBACK (on_guests_changed), f);
  f->mem_merge = sp_mem_merge_new (f->libvirt);
  sp_libvirt_start (f->libvirt);
  for (guint waited_ms = 0;
       sp_tuner_get_snapshot (f->tuner)->guests->domains->len == 0 && waited_ms < 20000;
       waited_ms += 50)
    sp_test_settle (50);
  g_assert_cmpuint (sp_tuner_get_snapshot (f->tuner)->guests->domains->len, >, 0);
}

static void
fixture_setup (Fixture *f, gconstpointer with_libvirt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SpConfig) base = sp_config_new_default ();
  g_autoptr (SpConfig) config = NULL;
  g_autofree char *state_dir = NULL;

  f->root = g_dir_make_tmp ("sp-test-dbus-service-XXXXXX", &error);
  g_assert_no_error (error);
  state_dir = g_build_filename (f->root, "state", NULL);
  f->overrides = sp_overrides_new (state_dir);
  f->overrides_path = g_strdup (sp_overrides_get_path (f->overrides));
  config = sp_overrides_load (f->overrides, base);
  f->tuner = sp_test_tuner_new (f->root, config);
  sp_overrides_set_tuner (f->overrides, f->tuner);
  f->authority = sp_authority_new ();
  if (with_libvirt)
    start_libvirt (f);

  f->service = sp_dbus_service_new (f->tuner, f->overrides, f->mem_merge, f->authority, &error);
  g_assert_no_error (error);
  f->connection = sp_test_bus_connect (bus);
  f->client = sp_test_bus_connect (bus);
  g_assert_true (sp_dbus_service_export (f->service, f->connection, &error));
  g_assert_no_error (error);
  f->dest = g_dbus_connection_get_unique_name (f->connection);
  signals_watch (&f->signals, f->client, SP_DBUS_PATH);
  sync_bus (f->client);
  sp_test_log_clear ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  signals_clear (&f->signals, f->client);
  if (f->service != NULL)
    sp_dbus_service_unexport (f->service);
  g_clear_object (&f->service);
  g_clear_object (&f->authority);
  g_clear_object (&f->mem_merge);
  if (f->libvirt != NULL)
    g_signal_handlers_disconnect_by_data (f->libvirt, f);
  g_clear_object (&f->libvirt);
  g_clear_object (&f->overrides);
  g_clear_object (&f->tuner);
  g_dbus_connection_close_sync (f->connection, NULL, NULL);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_clear_object (&f->connection);
  g_clear_object (&f->client);
  sp_test_remove_tree (f->root);
  g_free (f->root);
  g_free (f->overrides_path);
}

static GVariant *
call_manager (Fixture *f, const char *method, GVariant *parameters, GError **error)
{
  return sp_test_call (f->client, f->dest, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER, method,
                       parameters, error);
}

static GVariant *
get_all (Fixture *f, const char *path, const char *interface_name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply =
      sp_test_call (f->client, f->dest, path, PROPERTIES_INTERFACE, "GetAll",
                    g_variant_new ("(s)", interface_name), &error);

  g_assert_no_error (error);
  return g_variant_get_child_value (reply, 0);
}

/* Every property of expected, and no other, has the same value in got. */
static void
assert_same_properties (GVariant *got, GVariant *expected)
{
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_assert_cmpuint (g_variant_n_children (got), ==, g_variant_n_children (expected));
  g_variant_iter_init (&iter, expected);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_autoptr (GVariant) owned = value;
      g_autoptr (GVariant) other = g_variant_lookup_value (got, name, NULL);

      if (other == NULL || !g_variant_equal (other, owned))
        g_error ("property %s differs from the snapshot", name);
    }
}

static void
test_properties_are_the_snapshot (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) got = NULL;
  g_autoptr (GVariant) expected = NULL;
  guint64 total_kib = 0;

  got = get_all (f, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER);
  expected = g_variant_ref_sink (sp_dbus_manager_properties (sp_tuner_get_snapshot (f->tuner),
                                                             sp_tuner_get_config (f->tuner)));
  assert_same_properties (got, expected);
  g_assert_true (g_variant_lookup (got, "MemTotalKiB", "t", &total_kib));
  g_assert_cmpuint (total_kib, ==, sp_tuner_get_snapshot (f->tuner)->mem.total_kib);
  g_assert_cmpuint (total_kib, >, 0);

  /* after a new decision, the new snapshot */
  g_clear_pointer (&got, g_variant_unref);
  g_clear_pointer (&expected, g_variant_unref);
  sp_tuner_retune (f->tuner);
  got = get_all (f, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER);
  expected = g_variant_ref_sink (sp_dbus_manager_properties (sp_tuner_get_snapshot (f->tuner),
                                                             sp_tuner_get_config (f->tuner)));
  assert_same_properties (got, expected);
}

static SpDomainInfo *
domain_new (const char *name, const char *uuid)
{
  SpDomainInfo *d = sp_domain_info_new ();

  d->name = g_strdup (name);
  d->uuid = g_strdup (uuid);
  d->persistent = TRUE;
  d->mem_merge = TRUE;
  d->mem_merge_active = TRUE;
  d->mergeable = TRUE;
  d->current_kib = 524288;
  return d;
}

static void
set_guests (Fixture *f, guint n)
{
  g_autoptr (SpGuests) guests = sp_guests_new ();

  if (n >= 1)
    g_ptr_array_add (guests->domains, domain_new ("web1", "a1a1a1a1-1111-4111-8111-111111111111"));
  if (n >= 2)
    g_ptr_array_add (guests->domains, domain_new ("db1", "b2b2b2b2-2222-4222-8222-222222222222"));
  sp_guests_finish (guests);
  sp_tuner_set_guests (f->tuner, guests);
  sp_tuner_retune (f->tuner);
}

/* object path → a{sv} of org.samepage1.Domain, from GetManagedObjects */
static GHashTable *
managed_domains (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply =
      sp_test_call (f->client, f->dest, SP_DBUS_PATH, "org.freedesktop.DBus.ObjectManager",
                    "GetManagedObjects", NULL, &error);
  GHashTable *domains =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
  g_autoptr (GVariantIter) iter = NULL;
  const char *path;
  GVariant *interfaces;

  g_assert_no_error (error);
  g_variant_get (reply, "(a{oa{sa{sv}}})", &iter);
  while (g_variant_iter_next (iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr (GVariant) owned = interfaces;
      GVariant *props = g_variant_lookup_value (owned, SP_DBUS_INTERFACE_DOMAIN, NULL);

      g_assert_nonnull (props);
      g_hash_table_insert (domains, g_strdup (path), props);
    }
  return domains;
}

static void
test_domain_objects (Fixture *f, gconstpointer data)
{
  g_autoptr (GHashTable) domains = NULL;
  g_autoptr (GVariant) web1 = NULL;
  g_autoptr (SpGuests) guests = NULL;
  GVariant *props;
  const char *name;

  domains = managed_domains (f);
  g_assert_cmpuint (g_hash_table_size (domains), ==, 0);
  g_clear_pointer (&domains, g_hash_table_unref);

  set_guests (f, 2);
  domains = managed_domains (f);
  g_assert_cmpuint (g_hash_table_size (domains), ==, 2);
  props =
      g_hash_table_lookup (domains, SP_DBUS_DOMAIN_PATH "/a1a1a1a1_1111_4111_8111_111111111111");
  g_assert_nonnull (props);
  g_assert_true (g_variant_lookup (props, "Name", "&s", &name));
  g_assert_cmpstr (name, ==, "web1");
  props =
      g_hash_table_lookup (domains, SP_DBUS_DOMAIN_PATH "/b2b2b2b2_2222_4222_8222_222222222222");
  g_assert_nonnull (props);
  g_assert_true (g_variant_lookup (props, "Name", "&s", &name));
  g_assert_cmpstr (name, ==, "db1");

  /* each object's properties are its domain's */
  web1 = get_all (f, SP_DBUS_DOMAIN_PATH "/a1a1a1a1_1111_4111_8111_111111111111",
                  SP_DBUS_INTERFACE_DOMAIN);
  guests = sp_guests_ref (sp_tuner_get_snapshot (f->tuner)->guests);
  {
    g_autoptr (GVariant) expected = g_variant_ref_sink (sp_dbus_domain_properties (
        sp_guests_find (guests, "web1"), sp_tuner_get_snapshot (f->tuner)->balloon));

    assert_same_properties (web1, expected);
  }

  /* a domain gone: its object too */
  g_clear_pointer (&domains, g_hash_table_unref);
  set_guests (f, 1);
  domains = managed_domains (f);
  g_assert_cmpuint (g_hash_table_size (domains), ==, 1);
  g_assert_true (
      g_hash_table_contains (domains, SP_DBUS_DOMAIN_PATH "/a1a1a1a1_1111_4111_8111_111111111111"));
}

static void assert_list_is_the_objects (Fixture *f, const char *const *names);

/* A balloon policy whose decision the test sets: one target, for web1. */
struct _FakeBalloonPolicy {
  GObject parent_instance;
  SpBalloonAction action;
  guint64 target_kib;
  gboolean timed_out;
  const char *reason;
};

#define FAKE_TYPE_BALLOON_POLICY (fake_balloon_policy_get_type ())
G_DECLARE_FINAL_TYPE (FakeBalloonPolicy, fake_balloon_policy, FAKE, BALLOON_POLICY, GObject)

static const char *
fake_balloon_policy_get_name (SpPolicy *policy)
{
  return "fake-balloon";
}

static void
fake_balloon_policy_decide (SpPolicy *policy, const SpSnapshot *previous, SpSnapshot *next)
{
  FakeBalloonPolicy *self = FAKE_BALLOON_POLICY (policy);
  SpBalloonTarget *target = g_new0 (SpBalloonTarget, 1);

  target->name = g_strdup ("web1");
  target->uuid = g_strdup ("a1a1a1a1-1111-4111-8111-111111111111");
  target->action = self->action;
  target->managed = TRUE;
  target->current_kib = 524288;
  target->target_kib = self->target_kib;
  target->floor_kib = 262144;
  target->timed_out = self->timed_out;
  target->reason = g_strdup (self->reason);
  next->balloon = sp_balloon_decision_new ();
  g_ptr_array_add (next->balloon->targets, target);
}

static void
fake_balloon_policy_iface_init (SpPolicyInterface *iface)
{
  iface->get_name = fake_balloon_policy_get_name;
  iface->decide = fake_balloon_policy_decide;
}

G_DEFINE_TYPE_WITH_CODE (FakeBalloonPolicy, fake_balloon_policy, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_POLICY, fake_balloon_policy_iface_init))

static void
fake_balloon_policy_class_init (FakeBalloonPolicyClass *klass)
{
}

static void
fake_balloon_policy_init (FakeBalloonPolicy *self)
{
  self->action = SP_BALLOON_ACTION_HOLD;
  self->target_kib = 524288;
  self->reason = "at its floor";
}

/* The PropertiesChanged of web1's object after a decision with the same
 * guests: the balloon properties that changed, nothing else. */
static void
test_domain_balloon_changed (Fixture *f, gconstpointer data)
{
  g_autoptr (FakeBalloonPolicy) policy = g_object_new (FAKE_TYPE_BALLOON_POLICY, NULL);
  const char *path = SP_DBUS_DOMAIN_PATH "/a1a1a1a1_1111_4111_8111_111111111111";
  const char *const one[] = { "web1", NULL };
  Signals web1 = { 0 };
  GVariant *changed;
  const char *str;
  guint64 kib;

  set_guests (f, 1);
  sp_tuner_add_policy (f->tuner, SP_POLICY (policy));
  sp_tuner_retune (f->tuner);
  signals_watch (&web1, f->client, path);
  sync_bus (f->client);
  sp_test_settle (200);
  g_ptr_array_set_size (web1.changed, 0);
  /* ListDomains' reply, cached until an object or a value changes */
  assert_list_is_the_objects (f, one);

  /* the guests stay the same; the decision shrinks the balloon */
  policy->action = SP_BALLOON_ACTION_SHRINK;
  policy->target_kib = 498074;
  policy->reason = "pressure: shrink to 486.4 MiB";
  sp_tuner_retune (f->tuner);
  sp_test_settle (300);
  g_assert_cmpuint (web1.changed->len, ==, 1);
  changed = g_ptr_array_index (web1.changed, 0);
  g_assert_true (g_variant_lookup (changed, "BalloonState", "&s", &str));
  g_assert_cmpstr (str, ==, "shrink");
  g_assert_true (g_variant_lookup (changed, "BalloonTargetKiB", "t", &kib));
  g_assert_cmpuint (kib, ==, 498074);
  g_assert_true (g_variant_lookup (changed, "BalloonReason", "&s", &str));
  g_assert_cmpstr (str, ==, "pressure: shrink to 486.4 MiB");
  g_assert_false (g_variant_lookup (changed, "BalloonFloorKiB", "t", &kib));
  g_assert_false (g_variant_lookup (changed, "Name", "&s", &str));
  /* the same guests, new values: a new ListDomains reply */
  assert_list_is_the_objects (f, one);

  /* the same decision again: no signal */
  sp_tuner_retune (f->tuner);
  sp_test_settle (300);
  g_assert_cmpuint (web1.changed->len, ==, 1);

  /* the actuator gave up: timed-out, the rest as it was */
  policy->timed_out = TRUE;
  sp_tuner_retune (f->tuner);
  sp_test_settle (300);
  g_assert_cmpuint (web1.changed->len, ==, 2);
  changed = g_ptr_array_index (web1.changed, 1);
  g_assert_cmpuint (g_variant_n_children (changed), ==, 1);
  g_assert_true (g_variant_lookup (changed, "BalloonState", "&s", &str));
  g_assert_cmpstr (str, ==, "timed-out");
  assert_list_is_the_objects (f, one);
  signals_clear (&web1, f->client);
}

/* ListDomains: paths sorted by name, one column per property, each value
 * the one GetAll gives on that path; answered without polkit (it has no
 * action: a call that went through SpAuthority would be denied). */
static void
assert_list_is_the_objects (Fixture *f, const char *const *names)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call_manager (f, "ListDomains", NULL, &error);
  g_autoptr (GVariant) paths = NULL;
  g_autoptr (GVariant) columns = NULL;
  g_autoptr (GVariant) name_column = NULL;
  gsize n = g_strv_length ((char **) names);

  g_assert_no_error (error);
  g_assert_cmpstr (g_variant_get_type_string (reply), ==, "(aoa{sv})");
  paths = g_variant_get_child_value (reply, 0);
  columns = g_variant_get_child_value (reply, 1);
  g_assert_cmpuint (g_variant_n_children (paths), ==, n);
  name_column = g_variant_lookup_value (columns, "Name", G_VARIANT_TYPE_STRING_ARRAY);
  g_assert_nonnull (name_column);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) path = g_variant_get_child_value (paths, i);
      g_autoptr (GVariant) props =
          get_all (f, g_variant_get_string (path, NULL), SP_DBUS_INTERFACE_DOMAIN);
      g_autoptr (GVariant) name = g_variant_get_child_value (name_column, i);
      GVariantIter iter;
      const char *property;
      GVariant *column;

      g_assert_cmpstr (g_variant_get_string (name, NULL), ==, names[i]);
      /* every property of the object, and no other */
      g_assert_cmpuint (g_variant_n_children (columns), ==, g_variant_n_children (props));
      g_variant_iter_init (&iter, columns);
      while (g_variant_iter_next (&iter, "{&sv}", &property, &column))
        {
          g_autoptr (GVariant) owned = column;
          g_autoptr (GVariant) value = g_variant_get_child_value (owned, i);
          g_autoptr (GVariant) expected = g_variant_lookup_value (props, property, NULL);

          g_assert_cmpuint (g_variant_n_children (owned), ==, n);
          if (expected == NULL || !g_variant_equal (value, expected))
            g_error ("ListDomains' %s of %s differs from GetAll", property, names[i]);
        }
    }
}

static void
test_list_domains (Fixture *f, gconstpointer data)
{
  const char *const none[] = { NULL };
  const char *const two[] = { "db1", "web1", NULL };
  const char *const one[] = { "web1", NULL };

  assert_list_is_the_objects (f, none);
  set_guests (f, 2);
  assert_list_is_the_objects (f, two);
  /* a new domain list: a new reply */
  set_guests (f, 1);
  assert_list_is_the_objects (f, one);
}

typedef struct {
  const char *method;
  const char *parameters;
  const char *error_name;
  const char *message; /* exact */
} BadCall;

static const BadCall bad_calls[] = {
  { "SetTuning", "({'npages_max': <int64 2000000>},)", "org.samepage1.Error.InvalidArgs",
    "npages_max = 2000000 is out of range (1..100000 pages)" },
  { "SetTuning", "({'npages_max': <'many'>},)", "org.samepage1.Error.InvalidArgs",
    "npages_max has type 's', expected an integer (int32, int64, uint32 or uint64)" },
  { "SetTuning", "({'npages_maxx': <int64 1>},)", "org.samepage1.Error.InvalidArgs", NULL },
  { "SetTuning", "({'npages_min': <int64 5000>},)", "org.samepage1.Error.InvalidArgs", NULL },
  { "SetMode", "('sometimes',)", "org.samepage1.Error.InvalidArgs",
    "Unknown mode 'sometimes' (expected auto, always or never)" },
  { "SetMemMerge", "('', true)", "org.samepage1.Error.InvalidArgs",
    "The domain must be given by its name or UUID (a non-empty UTF-8 string)" },
  { "SetMemMerge", "('nope', false)", "org.samepage1.Error.UnknownDomain",
    "No domain named 'nope' or with that UUID (0 domains known; libvirt is not connected)" },
  { "SetBalloon", "('', {'min': <uint64 1>})", "org.samepage1.Error.InvalidArgs",
    "The domain must be given by its name or UUID (a non-empty UTF-8 string)" },
  { "SetBalloon", "('nope', {'shares': <5>})", "org.samepage1.Error.UnknownDomain",
    "No domain named 'nope' or with that UUID (0 domains known; libvirt is not connected)" },
};

/* Checked before anybody is asked: the right error, nothing changed. */
static void
test_bad_arguments (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) before = sp_config_copy (sp_tuner_get_config (f->tuner));

  for (gsize i = 0; i < G_N_ELEMENTS (bad_calls); i++)
    {
      const BadCall *c = &bad_calls[i];
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) parameters = g_variant_parse (NULL, c->parameters, NULL, NULL, &error);
      g_autoptr (GVariant) reply = NULL;
      g_autofree char *message = NULL;

      g_assert_no_error (error);
      g_test_message ("%s%s", c->method, c->parameters);
      reply = call_manager (f, c->method, parameters, &error);
      g_assert_null (reply);
      assert_error (error, c->error_name, c->message);
      message = sp_test_error_message (error);
      if (g_str_equal (c->parameters, "({'npages_maxx': <int64 1>},)"))
        g_assert_true (g_str_has_prefix (message, "Unknown tuning key 'npages_maxx' (known: "));
      if (g_str_equal (c->parameters, "({'npages_min': <int64 5000>},)"))
        g_assert_nonnull (strstr (message, "npages_min must be <= npages_max"));
    }
  g_assert_false (g_file_test (f->overrides_path, G_FILE_TEST_EXISTS));
  g_assert_true (sp_config_equal (sp_tuner_get_config (f->tuner), before));
  /* nobody was asked: no authorization started */
  g_assert_cmpuint (sp_test_log_count ("WARNING No polkit authority is reachable*"), ==, 0);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Denied *"), ==, 0);
}

/* A caller repeating bad calls: each one answered, one line a minute per
 * sender, the rest counted (here when the service goes). */
static void
test_refusals_logged_once (Fixture *f, gconstpointer data)
{
  g_autoptr (GDBusConnection) other = sp_test_bus_connect (bus);
  g_autofree char *summary =
      g_strdup_printf ("MESSAGE Refused 199 more call(s) from %s in the last minute*",
                       g_dbus_connection_get_unique_name (f->client));

  for (guint i = 0; i < 200; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply =
          call_manager (f, "SetMode", g_variant_new ("(s)", "sometimes"), &error);

      g_assert_null (reply);
      assert_error (error, "org.samepage1.Error.InvalidArgs",
                    "Unknown mode 'sometimes' (expected auto, always or never)");
    }
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Refused SetMode from *: Unknown mode *"), ==, 1);

  /* another sender has its own minute */
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply =
          sp_test_call (other, f->dest, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER, "SetMode",
                        g_variant_new ("(s)", "x"), &error);

      g_assert_null (reply);
      g_assert_nonnull (error);
    }
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Refused SetMode from *"), ==, 2);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Refused * more call(s)*"), ==, 0);

  /* what was held back is logged before samepaged goes */
  sp_dbus_service_unexport (f->service);
  g_clear_object (&f->service);
  g_assert_cmpuint (sp_test_log_count (summary), ==, 1);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Refused 2 more call(s) from *"), ==, 1);
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Refused * more call(s)*"), ==, 2);
  g_dbus_connection_close_sync (other, NULL, NULL);
}

static void
test_setters (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GVariant) tuning = NULL;
  const char *mode;
  gint64 npages_max = 0;

  if (getuid () != 0)
    {
      g_test_skip ("without polkit, only root may call the setters");
      return;
    }
  reply = call_manager (f, "SetTuning", g_variant_new_parsed ("({'npages_max': <int64 2000>},)"),
                        &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = call_manager (f, "SetMode", g_variant_new ("(s)", "never"), &error);
  g_assert_no_error (error);

  /* SpOverrides got them: saved, and in effect */
  g_assert_true (g_file_test (f->overrides_path, G_FILE_TEST_EXISTS));
  g_assert_cmpint (sp_tuner_get_config (f->tuner)->npages_max, ==, 2000);
  g_assert_cmpint (sp_tuner_get_config (f->tuner)->mode, ==, SP_MODE_NEVER);

  /* the properties show them as the call returns */
  props = get_all (f, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER);
  g_assert_true (g_variant_lookup (props, "Mode", "&s", &mode));
  g_assert_cmpstr (mode, ==, "never");
  tuning = g_variant_lookup_value (props, "Tuning", G_VARIANT_TYPE_VARDICT);
  g_assert_true (g_variant_lookup (tuning, "npages_max", "x", &npages_max));
  g_assert_cmpint (npages_max, ==, 2000);
}

static void
test_retune_emits_tuned (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  guint64 n_decisions = sp_tuner_get_n_decisions (f->tuner);
  const SpSnapshot *snapshot;
  const char *action;
  const char *reason;
  guint64 time_us;

  if (getuid () != 0)
    {
      g_test_skip ("without polkit, only root may call Retune");
      return;
    }
  reply = call_manager (f, "Retune", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sp_tuner_get_n_decisions (f->tuner), ==, n_decisions + 1);
  sp_test_settle (200);
  g_assert_cmpuint (f->signals.tuned->len, ==, 1);
  snapshot = sp_tuner_get_snapshot (f->tuner);
  g_variant_get (g_ptr_array_index (f->signals.tuned, 0), "(&s&st)", &action, &reason, &time_us);
  g_assert_cmpstr (action, ==, sp_action_to_string (snapshot->decision.action));
  g_assert_cmpstr (reason, ==, snapshot->decision.reason);
  g_assert_cmpuint (time_us, ==, (guint64) snapshot->time_us);
}

/* Without an SpMemMerge, SetMemMerge on a known domain is NotSupported. */
static void
test_set_mem_merge_not_supported (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *expected = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("without polkit, only root may call SetMemMerge");
      return;
    }
  set_guests (f, 1);
  reply = call_manager (f, "SetMemMerge", g_variant_new ("(sb)", "web1", FALSE), &error);
  g_assert_null (reply);
  expected = g_strdup_printf ("SetMemMerge is not supported by samepaged %s yet; edit the domain "
                              "with virsh edit (<memoryBacking><nosharepages/>)",
                              PACKAGE_VERSION);
  assert_error (error, "org.samepage1.Error.NotSupported", expected);
}

static GVariant *
domain_property (Fixture *f, const char *uuid, const char *name)
{
  g_autofree char *path = sp_dbus_domain_object_path (uuid);
  g_autoptr (GVariant) props = get_all (f, path, SP_DBUS_INTERFACE_DOMAIN);
  GVariant *value = g_variant_lookup_value (props, name, NULL);

  g_assert_nonnull (value);
  return value;
}

/* SetMemMerge goes to SpMemMerge, and its answer waits for the refresh:
 * the Domain object shows the change as the call returns. */
static void
test_set_mem_merge (Fixture *f, gconstpointer data)
{
  const char *uuid = "a1a1a1a1-1111-4111-8111-111111111111";
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) mem_merge = NULL;
  g_autoptr (GVariant) pending = NULL;
  g_autoptr (GVariant) active = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("without polkit, only root may call SetMemMerge");
      return;
    }
  mem_merge = domain_property (f, uuid, "MemMerge");
  g_assert_true (g_variant_get_boolean (mem_merge));
  g_clear_pointer (&mem_merge, g_variant_unref);

  reply = call_manager (f, "SetMemMerge", g_variant_new ("(sb)", "running", FALSE), &error);
  g_assert_no_error (error);
  mem_merge = domain_property (f, uuid, "MemMerge");
  pending = domain_property (f, uuid, "PendingRestart");
  active = domain_property (f, uuid, "MemMergeActive");
  g_assert_false (g_variant_get_boolean (mem_merge));
  g_assert_true (g_variant_get_boolean (pending));
  g_assert_true (g_variant_get_boolean (active));
  g_assert_cmpuint (sp_test_log_count ("MESSAGE SetMemMerge('running', false) by uid 0 (*): done"),
                    ==, 1);

  /* refusals from SpMemMerge go out with their names */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call_manager (f, "SetMemMerge", g_variant_new ("(sb)", "huge", FALSE), &error);
  g_assert_null (reply);
  assert_error (error, "org.samepage1.Error.Unmergeable", NULL);
}

/* Two changes in one main-loop iteration: one PropertiesChanged with both. */
static void
test_properties_changed_batched (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) settings =
      g_variant_ref_sink (g_variant_new_parsed ("{'npages_max': <int64 2000>}"));
  g_autoptr (GVariant) tuning = NULL;
  GVariant *changed;
  const char *mode;
  gint64 npages_max = 0;

  g_assert_true (sp_overrides_set_mode (f->overrides, SP_MODE_NEVER, &error));
  g_assert_no_error (error);
  g_assert_true (sp_overrides_set_tuning (f->overrides, settings, &error));
  g_assert_no_error (error);
  sp_test_settle (300);

  g_assert_cmpuint (f->signals.changed->len, ==, 1);
  changed = g_ptr_array_index (f->signals.changed, 0);
  g_assert_true (g_variant_lookup (changed, "Mode", "&s", &mode));
  g_assert_cmpstr (mode, ==, "never");
  tuning = g_variant_lookup_value (changed, "Tuning", G_VARIANT_TYPE_VARDICT);
  g_assert_nonnull (tuning);
  g_assert_true (g_variant_lookup (tuning, "npages_max", "x", &npages_max));
  g_assert_cmpint (npages_max, ==, 2000);
  /* what did not change is not in it */
  g_assert_false (g_variant_lookup (changed, "MemTotalKiB", "t", NULL));
  g_assert_false (g_variant_lookup (changed, "Version", "s", NULL));
  /* two decisions, two Tuned signals */
  g_assert_cmpuint (f->signals.tuned->len, ==, 2);

  /* a change in a later iteration: another signal */
  g_assert_true (sp_overrides_set_mode (f->overrides, SP_MODE_ALWAYS, &error));
  g_assert_no_error (error);
  sp_test_settle (300);
  g_assert_cmpuint (f->signals.changed->len, ==, 2);
}

static void
on_drained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *drained = user_data;

  g_assert_true (sp_dbus_service_drain_finish (SP_DBUS_SERVICE (source), result, NULL));
  *drained = TRUE;
}

/* Stopping: new calls are refused with the "stopping" error, nothing runs. */
static void
test_drain_refuses_calls (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  gboolean drained = FALSE;

  sp_dbus_service_drain_async (f->service, 10, on_drained, &drained);
  g_assert_true (sp_test_spin_until (&drained, 5000));

  reply = call_manager (f, "SetMode", g_variant_new ("(s)", "never"), &error);
  g_assert_null (reply);
  assert_error (error, "org.samepage1.Error.Failed",
                "samepaged is stopping: SetMode was not run, try again once it is back");
  g_assert_cmpint (sp_tuner_get_config (f->tuner)->mode, !=, SP_MODE_NEVER);
  g_assert_false (g_file_test (f->overrides_path, G_FILE_TEST_EXISTS));

  /* a read changes nothing: still answered */
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_error (&error);
  reply = call_manager (f, "ListDomains", NULL, &error);
  g_assert_nonnull (reply);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
  bus = sp_test_bus_up ();

  g_test_add ("/dbus-interface/batched", IfaceFixture, NULL, iface_setup, test_iface_batched,
              iface_teardown);
  g_test_add ("/dbus-interface/error-failed", IfaceFixture, GINT_TO_POINTER (TRUE), iface_setup,
              test_iface_errors, iface_teardown);
  g_test_add ("/dbus-interface/no-methods", IfaceFixture, NULL, iface_setup, test_iface_errors,
              iface_teardown);
#define ADD(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)
  ADD ("/dbus-service/properties", test_properties_are_the_snapshot);
  ADD ("/dbus-service/domains", test_domain_objects);
  ADD ("/dbus-service/domain-balloon-changed", test_domain_balloon_changed);
  ADD ("/dbus-service/list-domains", test_list_domains);
  ADD ("/dbus-service/bad-arguments", test_bad_arguments);
  ADD ("/dbus-service/refusals-logged-once", test_refusals_logged_once);
  ADD ("/dbus-service/setters", test_setters);
  ADD ("/dbus-service/retune", test_retune_emits_tuned);
  ADD ("/dbus-service/set-mem-merge/not-supported", test_set_mem_merge_not_supported);
  g_test_add ("/dbus-service/set-mem-merge/libvirt", Fixture, GINT_TO_POINTER (TRUE), fixture_setup,
              test_set_mem_merge, fixture_teardown);
  ADD ("/dbus-service/properties-changed-batched", test_properties_changed_batched);
  ADD ("/dbus-service/drain", test_drain_refuses_calls);
#undef ADD

  return sp_test_run_with_bus (bus);
}
