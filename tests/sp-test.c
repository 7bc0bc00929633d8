/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the unit tests: see sp-test.h. */
#define G_LOG_DOMAIN "sp-test"

#include "sp-test.h"

#include "sp-log.h"

#include <string.h>

#include <glib/gstdio.h>

/* ---- the test data ------------------------------------------------------ */

char *
sp_test_data_path (const char *subdir, const char *name)
{
  if (subdir == NULL)
    return g_test_build_filename (G_TEST_DIST, "data", name, NULL);
  return g_test_build_filename (G_TEST_DIST, "data", subdir, name, NULL);
}

char *
sp_test_load_data (const char *subdir, const char *name, gsize *len)
{
  g_autofree char *path = sp_test_data_path (subdir, name);

  return sp_test_read_file (path, len);
}

char *
sp_test_libvirt_uri (const char *node_xml)
{
  g_autofree char *path = sp_test_data_path ("libvirt", node_xml);
  g_autofree char *abs = g_canonicalize_filename (path, NULL);

  return g_strdup_printf ("test://%s", abs);
}

/* ---- temporary trees and files ----------------------------------------- */

char *
sp_test_make_tmp_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *program = g_path_get_basename (g_get_prgname () ? g_get_prgname () : "sp-test");
  g_autofree char *tmpl = g_strdup_printf ("%s-XXXXXX", program);
  char *dir = g_dir_make_tmp (tmpl, &error);

  g_assert_no_error (error);
  g_assert_nonnull (dir);
  return dir;
}

void
sp_test_remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      g_assert_nonnull (dir);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          sp_test_remove_tree (child);
        }
      g_assert_cmpint (g_rmdir (path), ==, 0);
    }
  else
    {
      g_assert_cmpint (g_unlink (path), ==, 0);
    }
}

void
sp_test_copy_tree (const char *src, const char *dst)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (src, 0, &error);
  const char *name;

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (dst, 0755), ==, 0);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *s = g_build_filename (src, name, NULL);
      g_autofree char *d = g_build_filename (dst, name, NULL);

      if (g_file_test (s, G_FILE_TEST_IS_DIR))
        {
          sp_test_copy_tree (s, d);
        }
      else
        {
          g_autofree char *contents = NULL;
          gsize len;

          contents = sp_test_read_file (s, &len);
          sp_test_write_file (d, contents, (gssize) len);
        }
    }
}

void
sp_test_write_file (const char *path, const char *contents, gssize len)
{
  g_autofree char *parent = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);
}

void
sp_test_write_in (const char *dir, const char *relative, const char *contents, gssize len)
{
  g_autofree char *path = g_build_filename (dir, relative, NULL);

  sp_test_write_file (path, contents, len);
}

char *
sp_test_read_file (const char *path, gsize *len)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, len, &error);
  g_assert_no_error (error);
  return contents;
}

void
sp_test_make_dir_in (const char *dir, const char *relative)
{
  g_autofree char *path = g_build_filename (dir, relative, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

void
sp_test_tmp_dir_setup (SpTestTmpDir *tmp, gconstpointer data)
{
  tmp->dir = sp_test_make_tmp_dir ();
}

void
sp_test_tmp_dir_teardown (SpTestTmpDir *tmp, gconstpointer data)
{
  sp_test_remove_tree (tmp->dir);
  g_clear_pointer (&tmp->dir, g_free);
}

char *
sp_test_tmp_dir_write (SpTestTmpDir *tmp, const char *name, const char *contents)
{
  char *path = g_build_filename (tmp->dir, name, NULL);

  sp_test_write_file (path, contents, -1);
  return path;
}

/* ---- assertions ----------------------------------------------------------- */

void
sp_test_assert_contains (const char *haystack, const char *needle)
{
  if (strstr (haystack, needle) == NULL)
    g_error ("“%s” does not contain “%s”", haystack, needle);
}

const SpConfigIntKey *
sp_test_int_key (const char *name)
{
  const SpConfigIntKey *key = sp_config_find_int_key (name);

  g_assert_nonnull (key);
  return key;
}

/* ---- a writable KSM sysfs tree ----------------------------------------- */

void
sp_test_sysfs_init (SpTestSysfs *t, const char *fixture)
{
  t->root = sp_test_make_tmp_dir ();
  t->ksm_dir = g_build_filename (t->root, "kernel", "mm", "ksm", NULL);
  if (fixture != NULL)
    {
      g_autofree char *src = sp_test_data_path (NULL, fixture);

      sp_test_copy_tree (src, t->root);
    }
  else
    {
      g_assert_cmpint (g_mkdir_with_parents (t->ksm_dir, 0755), ==, 0);
    }
}

void
sp_test_sysfs_clear (SpTestSysfs *t)
{
  sp_test_remove_tree (t->root);
  g_clear_pointer (&t->root, g_free);
  g_clear_pointer (&t->ksm_dir, g_free);
}

char *
sp_test_sysfs_path (SpTestSysfs *t, const char *name)
{
  return g_build_filename (t->ksm_dir, name, NULL);
}

void
sp_test_sysfs_set (SpTestSysfs *t, const char *name, const char *contents)
{
  g_autofree char *path = sp_test_sysfs_path (t, name);

  sp_test_write_file (path, contents, -1);
}

char *
sp_test_sysfs_get (SpTestSysfs *t, const char *name)
{
  g_autofree char *path = sp_test_sysfs_path (t, name);

  return sp_test_read_file (path, NULL);
}

char *
sp_test_sysfs_knob (SpTestSysfs *t, const char *name)
{
  return g_strchomp (sp_test_sysfs_get (t, name));
}

/* ---- KSM state ---------------------------------------------------------- */

void
sp_test_ksm_set (SpKsmState *ksm, SpKsmField field, gint64 value)
{
  ksm->present |= G_GUINT64_CONSTANT (1) << field;
  ksm->values[field] = value;
}

/* ---- the main loop ------------------------------------------------------ */

static gboolean
on_timeout (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

void
sp_test_timeout_start (SpTestTimeout *t, guint seconds)
{
  t->expired = FALSE;
  t->id = g_timeout_add_seconds (seconds, on_timeout, &t->expired);
}

void
sp_test_timeout_start_ms (SpTestTimeout *t, guint ms)
{
  t->expired = FALSE;
  t->id = g_timeout_add (ms, on_timeout, &t->expired);
}

void
sp_test_timeout_finish (SpTestTimeout *t)
{
  g_assert_false (t->expired);
  g_source_remove (t->id);
  t->id = 0;
}

void
sp_test_settle (guint ms)
{
  gboolean expired = FALSE;

  g_timeout_add (ms, on_timeout, &expired);
  while (!expired)
    g_main_context_iteration (NULL, TRUE);
}

void
sp_test_wait_count (const guint *counter, guint n)
{
  SpTestTimeout timeout;

  sp_test_timeout_start (&timeout, 20);
  while (*counter <= n && !timeout.expired)
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
}

/* ---- a libvirt watcher on the test driver ------------------------------- */

void
sp_test_watch_record (gpointer source, SpGuests *guests, gpointer user_data)
{
  SpTestWatch *w = user_data;

  w->n_changed++;
  g_clear_pointer (&w->last, sp_guests_unref);
  w->last = sp_guests_ref (guests);
}

void
sp_test_watch_start (SpTestWatch *w, const char *node_xml)
{
  sp_test_watch_start_full (w, node_xml, NULL, NULL);
}

void
sp_test_watch_start_full (SpTestWatch *w, const char *node_xml, const char *procfs_root,
                          const char *pid_dir)
{
  g_autofree char *uri = sp_test_libvirt_uri (node_xml);
  SpTestTimeout timeout;

  memset (w, 0, sizeof (*w));
  w->libvirt = sp_libvirt_new (uri, procfs_root != NULL ? procfs_root : "/proc", pid_dir);
  if (procfs_root != NULL)
    sp_libvirt_set_qemu_facts_always (w->libvirt, TRUE);
  g_signal_connect (w->libvirt, "guests-changed", G_CALLBACK (sp_test_watch_record), w);
  sp_libvirt_start (w->libvirt);
  /* connected, then the first refresh */
  sp_test_timeout_start (&timeout, 20);
  while ((w->last == NULL || w->last->domains->len == 0) && !timeout.expired)
    g_main_context_iteration (NULL, TRUE);
  sp_test_timeout_finish (&timeout);
  g_assert_true (w->last->connected);
}

void
sp_test_watch_wait_changes (SpTestWatch *w, guint n)
{
  sp_test_wait_count (&w->n_changed, n);
}

void
sp_test_watch_stop (SpTestWatch *w)
{
  /* a refresh still running holds the watcher: it must not publish into w
   * (on the stack, or a fixture freed after the test) */
  g_signal_handlers_disconnect_by_data (w->libvirt, w);
  g_clear_pointer (&w->last, sp_guests_unref);
  g_clear_object (&w->libvirt);
}

/* ---- a dry-run tuner, log capture, a private bus ------------------------- */

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

typedef struct {
  char *domain;
  char *line; /* "WARNING message", "MESSAGE message", "INFO <SAMEPAGE_DOMAIN or -> message" */
} LoggedLine;

static void
logged_line_free (gpointer data)
{
  LoggedLine *l = data;

  g_free (l->domain);
  g_free (l->line);
  g_free (l);
}

G_LOCK_DEFINE_STATIC (logged);
static GPtrArray *logged; /* LoggedLine* */

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain = NULL;
  const char *message = NULL;
  const char *guest = "-";

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
      else if (g_str_equal (fields[i].key, SP_LOG_FIELD_DOMAIN))
        guest = fields[i].value;
    }
  if (domain != NULL && g_str_has_prefix (domain, "samepaged") && message != NULL &&
      (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO)) != 0)
    {
      LoggedLine *l = g_new0 (LoggedLine, 1);

      l->domain = g_strdup (domain);
      if ((level & G_LOG_LEVEL_INFO) != 0)
        l->line = g_strdup_printf ("INFO %s %s", guest, message);
      else
        l->line = g_strdup_printf (
            "%s %s", (level & G_LOG_LEVEL_WARNING) != 0 ? "WARNING" : "MESSAGE", message);
      G_LOCK (logged);
      g_ptr_array_add (logged, l);
      G_UNLOCK (logged);
      g_test_message ("%s: %s", domain, l->line);
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

void
sp_test_log_capture (void)
{
  gboolean first;

  G_LOCK (logged);
  first = logged == NULL;
  if (first)
    logged = g_ptr_array_new_with_free_func (logged_line_free);
  G_UNLOCK (logged);
  /* GLib takes one writer per process: a second call only keeps capturing */
  if (first)
    g_log_set_writer_func (log_writer, NULL, NULL);
}

guint
sp_test_log_count (const char *pattern)
{
  g_auto (GStrv) lines = sp_test_log_lines (NULL, pattern);

  return g_strv_length (lines);
}

char **
sp_test_log_lines (const char *domain, const char *pattern)
{
  g_autoptr (GStrvBuilder) lines = g_strv_builder_new ();

  G_LOCK (logged);
  for (guint i = 0; logged != NULL && i < logged->len; i++)
    {
      const LoggedLine *l = g_ptr_array_index (logged, i);

      if ((domain == NULL || g_str_equal (domain, l->domain)) &&
          g_pattern_match_simple (pattern, l->line))
        g_strv_builder_add (lines, l->line);
    }
  G_UNLOCK (logged);
  return g_strv_builder_end (lines);
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

int
sp_test_run_with_bus (GTestDBus *bus)
{
  int status = g_test_run ();

  g_test_dbus_down (bus);
  g_object_unref (bus);
  return status;
}

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

gboolean
sp_test_spin_until (const gboolean *flag, guint timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, on_timeout, &expired);

  while (!expired && (flag == NULL || !*flag))
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return flag != NULL && *flag;
}

/* ---- the kernel's part of KSM writes ------------------------------------- */

static gboolean
on_fake_unmerged (gpointer user_data)
{
  SpTestSysfs *t = user_data;

  sp_test_sysfs_set (t, "pages_shared", "0\n");
  sp_test_sysfs_set (t, "pages_sharing", "0\n");
  return G_SOURCE_REMOVE;
}

static gboolean
fake_kernel_write (const char *sysfs_root, SpKsmField field, gint64 value, gpointer user_data,
                   GError **error)
{
  SpTestFakeKernel *k = user_data;
  SpKsmState ksm = { 0 };

  if (g_strcmp0 (sysfs_root, k->sysfs->root) != 0)
    return TRUE;
  g_atomic_int_inc (&k->n_writes);
  g_assert_true (sp_ksm_read (sysfs_root, &ksm, NULL));
  if (k->record_path != NULL)
    {
      g_autofree char *record = NULL;
      g_autofree char *key = g_strdup_printf ("\n%s=", sp_ksm_field_name (field));

      if (!g_file_get_contents (k->record_path, &record, NULL, NULL) ||
          strstr (record, key) == NULL)
        g_atomic_int_inc (&k->n_unrecorded_writes);
      if (record != NULL && g_strcmp0 (record, k->last_record) != 0)
        {
          k->n_record_versions++;
          g_free (k->last_record);
          k->last_record = g_steal_pointer (&record);
        }
    }
  switch (field)
    {
    case SP_KSM_ADVISOR_MODE:
      if (sp_ksm_state_get (&ksm, field) != value)
        {
          g_autofree char *reset =
              g_strdup_printf ("%" G_GINT64_FORMAT "\n",
                               value == SP_KSM_ADVISOR_NONE
                                   ? 100
                                   : sp_ksm_state_get (&ksm, SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN));
          sp_test_sysfs_set (k->sysfs, "pages_to_scan", reset);
        }
      break;
    case SP_KSM_PAGES_TO_SCAN:
      if (sp_ksm_state_get (&ksm, SP_KSM_ADVISOR_MODE) != SP_KSM_ADVISOR_NONE)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "Cannot write pages_to_scan under the advisor: Invalid argument (EINVAL)");
          return FALSE;
        }
      break;
    case SP_KSM_MERGE_ACROSS_NODES:
      if (k->refuse_merge_across_nodes || sp_ksm_state_get (&ksm, SP_KSM_PAGES_SHARED) > 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                       "Cannot write merge_across_nodes: Device or resource busy (EBUSY)");
          return FALSE;
        }
      break;
    case SP_KSM_RUN:
      if (value == SP_KSM_RUN_UNMERGE && k->unmerge_delay_ms >= 0)
        g_timeout_add ((guint) k->unmerge_delay_ms, on_fake_unmerged, k->sysfs);
      break;
    default:
      break;
    }
  return TRUE;
}

void
sp_test_fake_kernel_start (SpTestFakeKernel *k, SpTestSysfs *sysfs)
{
  k->sysfs = sysfs;
  sp_ksm_set_write_hook (fake_kernel_write, k);
}

void
sp_test_fake_kernel_stop (SpTestFakeKernel *k)
{
  sp_ksm_set_write_hook (NULL, NULL);
  g_clear_pointer (&k->last_record, g_free);
}
