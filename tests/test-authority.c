/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpAuthority, default deny: the table says which polkit action each method
 * needs (every Manager method has one, each one is in the polkit policy,
 * nothing else has one), a method without an entry is denied to everybody,
 * root included, before polkit is asked, and without a polkit authority only
 * root is allowed (logged once). On a private bus where nothing owns
 * org.freedesktop.PolicyKit1.
 */
#define G_LOG_DOMAIN "test-authority"

#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "sp-authority.h"
#include "sp-dbus-interface.h"
#include "sp-error.h"
#include "sp-names.h"
#include "sp-resources.h"
#include "sp-test.h"

#define TEST_PATH "/org/samepage1/test"
#define TEST_INTERFACE "org.samepage1.Test"

static GTestDBus *bus;

static GDBusNodeInfo *
load_api (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *xml = NULL;
  GDBusNodeInfo *info;
  gsize size;
  const char *data;

  bytes = g_resource_lookup_data (sp_get_resource (), "/org/samepage1/org.samepage1.Manager.xml",
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (bytes, &size);
  xml = g_strndup (data, size);
  info = g_dbus_node_info_new_for_xml (xml, &error);
  g_assert_no_error (error);
  return info;
}

/* The action ids polkit/org.samepage1.policy declares. */
static GHashTable *
policy_actions (void)
{
  g_autofree char *path =
      g_test_build_filename (G_TEST_DIST, "..", "polkit", "org.samepage1.policy", NULL);
  GHashTable *ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  xmlDocPtr doc = xmlReadFile (path, NULL, XML_PARSE_NONET | XML_PARSE_NOENT);
  xmlXPathContextPtr context;
  xmlXPathObjectPtr ids_found;

  g_assert_nonnull (doc);
  context = xmlXPathNewContext (doc);
  ids_found = xmlXPathEvalExpression ((const xmlChar *) "/policyconfig/action/@id", context);
  g_assert_nonnull (ids_found);
  for (int i = 0; ids_found->nodesetval != NULL && i < ids_found->nodesetval->nodeNr; i++)
    {
      xmlChar *id = xmlNodeGetContent (ids_found->nodesetval->nodeTab[i]);

      g_hash_table_add (ids, g_strdup ((const char *) id));
      xmlFree (id);
    }
  xmlXPathFreeObject (ids_found);
  xmlXPathFreeContext (context);
  xmlFreeDoc (doc);
  return ids;
}

static void
test_table (void)
{
  g_autoptr (GDBusNodeInfo) api = load_api ();
  g_autoptr (GHashTable) policy = policy_actions ();
  GDBusInterfaceInfo *manager = g_dbus_node_info_lookup_interface (api, SP_DBUS_INTERFACE_MANAGER);
  GDBusInterfaceInfo *domain = g_dbus_node_info_lookup_interface (api, SP_DBUS_INTERFACE_DOMAIN);
  guint n_methods = 0;

  g_assert_cmpuint (g_hash_table_size (policy), >=, 2);

  /* what each method needs */
  g_assert_cmpstr (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "SetTuning"), ==,
                   SP_POLKIT_ACTION_CONFIGURE);
  g_assert_cmpstr (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "SetMode"), ==,
                   SP_POLKIT_ACTION_CONFIGURE);
  g_assert_cmpstr (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "Retune"), ==,
                   SP_POLKIT_ACTION_CONFIGURE);
  g_assert_cmpstr (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "Unmerge"), ==,
                   SP_POLKIT_ACTION_CONFIGURE);
  g_assert_cmpstr (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "SetMemMerge"), ==,
                   SP_POLKIT_ACTION_SET_MEM_MERGE);
  g_assert_cmpstr (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "SetBalloon"), ==,
                   SP_POLKIT_ACTION_SET_BALLOON);

  /* reads need no action: answered without polkit */
  g_assert_true (sp_authority_is_public (SP_DBUS_INTERFACE_MANAGER, "ListDomains"));
  g_assert_null (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "ListDomains"));
  g_assert_false (sp_authority_is_public (SP_DBUS_INTERFACE_MANAGER, "Retune"));
  g_assert_false (sp_authority_is_public (SP_DBUS_INTERFACE_DOMAIN, "ListDomains"));
  g_assert_false (sp_authority_is_public (SP_DBUS_INTERFACE_MANAGER, "listdomains"));

  /* every other method of the API has an action, and polkit knows it */
  for (GDBusMethodInfo **m = manager->methods; m != NULL && *m != NULL; m++, n_methods++)
    {
      const char *action = sp_authority_lookup_action (manager->name, (*m)->name);

      if (sp_authority_is_public (manager->name, (*m)->name))
        continue;

      if (action == NULL)
        g_error ("%s.%s has no polkit action: nobody could call it", manager->name, (*m)->name);
      if (!g_hash_table_contains (policy, action))
        g_error ("%s.%s needs %s, which org.samepage1.policy lacks", manager->name, (*m)->name,
                 action);
    }
  g_assert_cmpuint (n_methods, ==, 7);
  for (GDBusMethodInfo **m = domain->methods; m != NULL && *m != NULL; m++)
    g_assert_null (sp_authority_lookup_action (domain->name, (*m)->name));

  /* default deny: anything else has no action */
  g_assert_null (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "Frobnicate"));
  g_assert_null (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, "settuning"));
  g_assert_null (sp_authority_lookup_action (SP_DBUS_INTERFACE_DOMAIN, "SetTuning"));
  g_assert_null (sp_authority_lookup_action ("org.freedesktop.DBus.Properties", "Set"));
  g_assert_null (sp_authority_lookup_action (NULL, "SetTuning"));
  g_assert_null (sp_authority_lookup_action (SP_DBUS_INTERFACE_MANAGER, NULL));
}

/* ---- on a bus: a test object whose methods only ask SpAuthority ---------- */

static const char test_xml[] =
    "<node>"
    "  <interface name='" SP_DBUS_INTERFACE_MANAGER "'>"
    "    <method name='Retune'><arg type='u' direction='out'/></method>"
    "    <method name='Frobnicate'><arg type='u' direction='out'/></method>"
    "  </interface>"
    "  <interface name='" TEST_INTERFACE "'>"
    "    <method name='SetTuning'><arg type='u' direction='out'/></method>"
    "  </interface>"
    "</node>";

typedef struct {
  SpAuthority *authority;
  GDBusConnection *service;
  GDBusConnection *client;
  GDBusNodeInfo *info;
  guint registration_ids[2];
} Fixture;

static void
on_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GDBusMethodInvocation) invocation = user_data;
  g_autoptr (GError) error = NULL;
  guint32 uid = 0;

  if (!sp_authority_check_finish (SP_AUTHORITY (source), result, &uid, &error))
    {
      sp_dbus_return_error (g_steal_pointer (&invocation), error);
      return;
    }
  g_dbus_method_invocation_return_value (g_steal_pointer (&invocation), g_variant_new ("(u)", uid));
}

static void
handle_method (GDBusConnection *connection, const char *sender, const char *object_path,
               const char *interface_name, const char *method_name, GVariant *parameters,
               GDBusMethodInvocation *invocation, gpointer user_data)
{
  Fixture *f = user_data;

  /* the reference to invocation goes to on_checked, then to the reply */
  sp_authority_check_async (f->authority, invocation, NULL, on_checked, invocation);
}

static const GDBusInterfaceVTable vtable = { .method_call = handle_method };

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->authority = sp_authority_new ();
  f->service = sp_test_bus_connect (bus);
  f->client = sp_test_bus_connect (bus);
  f->info = g_dbus_node_info_new_for_xml (test_xml, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      f->registration_ids[i] = g_dbus_connection_register_object (
          f->service, TEST_PATH, f->info->interfaces[i], &vtable, f, NULL, &error);
      g_assert_no_error (error);
    }
  sp_test_log_clear ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 2; i++)
    g_dbus_connection_unregister_object (f->service, f->registration_ids[i]);
  g_dbus_connection_close_sync (f->service, NULL, NULL);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_clear_object (&f->service);
  g_clear_object (&f->client);
  g_clear_object (&f->authority);
  g_clear_pointer (&f->info, g_dbus_node_info_unref);
}

static GVariant *
call (Fixture *f, const char *interface_name, const char *method, GError **error)
{
  return sp_test_call (f->client, g_dbus_connection_get_unique_name (f->service), TEST_PATH,
                       interface_name, method, NULL, error);
}

static void
assert_access_denied (GError *error, const char *message)
{
  g_autofree char *name = sp_test_error_name (error);
  g_autofree char *text = sp_test_error_message (error);

  g_assert_cmpstr (name, ==, "org.samepage1.Error.AccessDenied");
  g_assert_cmpstr (text, ==, message);
}

/* Not in the table: denied to everybody, root included, polkit not asked. */
static void
test_unlisted_denied (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;

  reply = call (f, SP_DBUS_INTERFACE_MANAGER, "Frobnicate", &error);
  g_assert_null (reply);
  assert_access_denied (error,
                        "Not authorized: org.samepage1.Manager.Frobnicate (no polkit action covers "
                        "it: denied by default)");
  g_clear_error (&error);

  /* a listed method name on another interface is another method */
  reply = call (f, TEST_INTERFACE, "SetTuning", &error);
  g_assert_null (reply);
  assert_access_denied (error,
                        "Not authorized: org.samepage1.Test.SetTuning (no polkit action covers "
                        "it: denied by default)");

  /* polkit was never asked */
  g_assert_cmpuint (sp_test_log_count ("WARNING No polkit authority is reachable*"), ==, 0);
  /* nor logged here: SpDbusService logs refused calls, rate-limited */
  g_assert_cmpuint (sp_test_log_count ("MESSAGE Denied *"), ==, 0);
}

/* A listed method without a polkit authority: root only, said once. */
static void
test_no_polkit_root_only (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply = call (f, SP_DBUS_INTERFACE_MANAGER, "Retune", &error);

      if (getuid () == 0)
        {
          guint32 uid = G_MAXUINT32;

          g_assert_no_error (error);
          g_variant_get (reply, "(u)", &uid);
          g_assert_cmpuint (uid, ==, 0);
        }
      else
        {
          g_assert_null (reply);
          assert_access_denied (error, "Not authorized: org.samepage1.configure (no polkit "
                                       "authority is reachable: only root may do this)");
        }
    }
  g_assert_cmpuint (sp_test_log_count ("WARNING No polkit authority is reachable (*): only root "
                                       "(uid 0) may change samepaged's settings until polkit "
                                       "answers"),
                    ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
  bus = sp_test_bus_up ();

  g_test_add_func ("/authority/table", test_table);
  g_test_add ("/authority/unlisted-denied", Fixture, NULL, fixture_setup, test_unlisted_denied,
              fixture_teardown);
  g_test_add ("/authority/no-polkit-root-only", Fixture, NULL, fixture_setup,
              test_no_polkit_root_only, fixture_teardown);

  return sp_test_run_with_bus (bus);
}
