/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "sp-test-env"

#include "sp-test-env.h"

#include <glib/gstdio.h>

void
sp_test_remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        sp_test_remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

SpTuner *
sp_test_tuner_new (const char *root, const SpConfig *config)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autofree char *sysfs = g_test_build_filename (G_TEST_DIST, "data", "sysfs-6.18", NULL);
  g_autofree char *source = g_test_build_filename (G_TEST_DIST, "data", "meminfo-6.18.txt", NULL);
  g_autofree char *proc = g_build_filename (root, "proc", NULL);
  g_autofree char *meminfo = g_build_filename (proc, "meminfo", NULL);
  g_autofree char *contents = NULL;
  SpTuner *tuner;

  g_assert_cmpint (g_mkdir_with_parents (proc, 0755), ==, 0);
  g_file_get_contents (source, &contents, NULL, &error);
  g_assert_no_error (error);
  g_file_set_contents (meminfo, contents, -1, &error);
  g_assert_no_error (error);

  tuner = sp_tuner_new (config != NULL ? config : defaults, sysfs, proc, TRUE);
  sp_tuner_start (tuner);
  g_assert_cmpuint (sp_tuner_get_n_decisions (tuner), ==, 1);
  return tuner;
}

/* ---- log capture -------------------------------------------------------- */

G_LOCK_DEFINE_STATIC (logged);
static GPtrArray *logged; /* char*: "WARNING message", "MESSAGE message" */

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain = NULL;
  const char *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
    }
  if (domain != NULL && g_str_has_prefix (domain, "samepaged") && message != NULL &&
      (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)) != 0)
    {
      const char *kind = (level & G_LOG_LEVEL_WARNING) != 0 ? "WARNING" : "MESSAGE";

      G_LOCK (logged);
      g_ptr_array_add (logged, g_strdup_printf ("%s %s", kind, message));
      G_UNLOCK (logged);
      g_test_message ("%s: %s %s", domain, kind, message);
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

void
sp_test_log_capture (void)
{
  G_LOCK (logged);
  if (logged == NULL)
    logged = g_ptr_array_new_with_free_func (g_free);
  G_UNLOCK (logged);
  g_log_set_writer_func (log_writer, NULL, NULL);
}

guint
sp_test_log_count (const char *pattern)
{
  guint n = 0;

  G_LOCK (logged);
  for (guint i = 0; logged != NULL && i < logged->len; i++)
    if (g_pattern_match_simple (pattern, g_ptr_array_index (logged, i)))
      n++;
  G_UNLOCK (logged);
  return n;
}

void
sp_test_log_clear (void)
{
  G_LOCK (logged);
  if (logged != NULL)
    g_ptr_array_set_size (logged, 0);
  G_UNLOCK (logged);
}

/* ---- a private bus ------------------------------------------------------ */

GTestDBus *
sp_test_bus_up (void)
{
  GTestDBus *bus = g_test_dbus_new (G_TEST_DBUS_NONE);

  g_test_dbus_up (bus);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (bus), TRUE);
  return bus;
}

GDBusConnection *
sp_test_bus_connect (GTestDBus *bus)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *connection =
      g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                              G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                              NULL, NULL, &error);

  g_assert_no_error (error);
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  return connection;
}

static void
on_called (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
  g_main_context_wakeup (NULL);
}

GVariant *
sp_test_call (GDBusConnection *client, const char *dest, const char *path,
              const char *interface_name, const char *method, GVariant *parameters, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  g_dbus_connection_call (client, dest, path, interface_name, method, parameters, NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, NULL, on_called, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_dbus_connection_call_finish (client, result, error);
}

char *
sp_test_error_name (const GError *error)
{
  g_assert_nonnull (error);
  return g_dbus_error_get_remote_error (error);
}

char *
sp_test_error_message (const GError *error)
{
  g_autoptr (GError) copy = g_error_copy (error);

  g_dbus_error_strip_remote_error (copy);
  return g_strdup (copy->message);
}

static gboolean
on_spin_timeout (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
sp_test_spin_until (const gboolean *flag, guint timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, on_spin_timeout, &expired);

  while (!expired && (flag == NULL || !*flag))
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return flag != NULL && *flag;
}

void
sp_test_spin (guint ms)
{
  sp_test_spin_until (NULL, ms);
}
