/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ksmtuned.conf import: every setting in the forms a shell accepts, one
 * warning per bad line, never a command run. */
#define G_LOG_DOMAIN "test-ksmtuned-import"

#include <glib/gstdio.h>

#include "sp-config.h"
#include "sp-error.h"
#include "sp-test.h"
#include "sp-ksmtuned-import.h"

typedef struct {
  const char *key;
  gint64 value;
} KeyValue;

/* ksmtuned.conf with every setting, in the forms a shell accepts. */
static void
test_ksmtuned_custom (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_data_path (NULL, "ksmtuned-custom.conf");
  const KeyValue expect[] = {
    { "monitor_interval", 30 }, { "sleep_msec", 20 },   { "npages_boost", 600 },
    { "npages_decay", -50 }, /* KSM_NPAGES_DECAY= resets to the default */
    { "npages_min", 128 },      { "npages_max", 2500 }, { "thres_coef", 30 },
    { "thres_const", 8192 },
  };

  g_assert_true (sp_config_import_ksmtuned (config, path, warnings, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < warnings->len; i++)
    g_test_message ("unexpected: %s", (const char *) g_ptr_array_index (warnings, i));
  g_assert_cmpuint (warnings->len, ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (expect); i++)
    g_assert_cmpint (sp_config_get_int (config, sp_test_int_key (expect[i].key)), ==,
                     expect[i].value);

  /* the keys ksmtuned does not have keep their values */
  g_assert_cmpint (config->hysteresis_pct, ==, defaults->hysteresis_pct);
  g_assert_cmpint (config->mode, ==, defaults->mode);
  g_assert_cmpint (config->advisor_max_cpu_max, ==, defaults->advisor_max_cpu_max);
}

/* Debian's stock /etc/ksmtuned.conf (all commented out) changes nothing and
 * warns about nothing; neither does a missing file. */
static void
test_ksmtuned_debian_and_missing (void)
{
  const char *names[] = { "ksmtuned-debian.conf", "does-not-exist.conf" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr (SpConfig) config = sp_config_new_default ();
      g_autoptr (SpConfig) defaults = sp_config_new_default ();
      g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
      g_autoptr (GError) error = NULL;
      g_autofree char *path = sp_test_data_path (NULL, names[i]);

      g_assert_true (sp_config_import_ksmtuned (config, path, warnings, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (warnings->len, ==, 0);
      g_assert_true (sp_config_equal (config, defaults));
    }
}

typedef struct {
  guint line;
  const char *expect[3];
} WarningCase;

/* One warning per bad line, naming FILE:LINE, and the defaults kept. */
static void
test_ksmtuned_malformed (void)
{
  const WarningCase cases[] = {
    { 2, { "'KSM_NPAGES_MAX' is not a KEY=value line", "ignored" } },
    { 3, { "KSM_NPAGES_MAX='$(echo 5000)' is shell syntax", "using default 1250" } },
    { 4, { "KSM_NPAGES_MIN='`echo 10`' is shell syntax", "using default 64" } },
    { 5, { "KSM_NPAGES_BOOST='lots' is not an integer; using default 300" } },
    { 6, { "KSM_NPAGES_DECAY=50 is out of range (-100000..0 pages); using default -50" } },
    { 7, { "KSM_SLEEP_MSEC=99999999 is out of range (1..10000 ms); using default 10" } },
    { 8, { "KSM_THRES_COEF='\"20' has an unterminated quote; using default 20" } },
    { 9, { "KSM_THRES_CONST='2048 extra' has text after the value; using default 2048" } },
    { 10, { "KSM_MONITOR_INTERVAL='60; reboot' is shell syntax", "using default 60" } },
    { 11, { "unknown ksmtuned setting KSM_NPAGES_LIMIT; ignored" } },
    { 12, { "'export KSM_NPAGES_MAX=2000' is not a KEY=value line", "no export" } },
    { 13, { "'KSM_NPAGES_MAX = 2000' is not a KEY=value line" } },
    { 14, { "'if [ -f /etc/foo ]; then KSM_NPAGES_MAX=1; fi' is not a KEY=value line" } },
    { 15, { "KSM_THRES_COEF='\"$COEF\"' is shell syntax", "using default 20" } },
    { 16,
      { "KSM_MONITOR_INTERVAL=99999999999999999999999 is out of range (1..86400 s)",
        "using default 60" } },
    /* in the shell, # starts a comment only after a blank */
    { 17, { "KSM_NPAGES_BOOST='\"500\"#no-space' has text after the value", "using default 300" } },
  };
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_data_path (NULL, "ksmtuned-malformed.conf");

  g_assert_true (sp_config_import_ksmtuned (config, path, warnings, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < warnings->len; i++)
    g_test_message ("%s", (const char *) g_ptr_array_index (warnings, i));
  g_assert_cmpuint (warnings->len, ==, G_N_ELEMENTS (cases));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *warning = g_ptr_array_index (warnings, i);
      g_autofree char *prefix = g_strdup_printf ("%s:%u: ", path, cases[i].line);

      g_assert_true (g_str_has_prefix (warning, prefix));
      for (guint j = 0; j < G_N_ELEMENTS (cases[i].expect) && cases[i].expect[j] != NULL; j++)
        sp_test_assert_contains (warning, cases[i].expect[j]);
    }
  g_assert_true (sp_config_equal (config, defaults));

  /* no warnings array: same result, nothing to report to */
  sp_config_free (g_steal_pointer (&config));
  config = sp_config_new_default ();
  g_assert_true (sp_config_import_ksmtuned (config, path, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (sp_config_equal (config, defaults));
}

/* A bad value replaces an earlier good one with the default, as the
 * warning says; over a non-default config, the warning says "keeping". */
static void
test_ksmtuned_bad_after_good (SpTestTmpDir *tmp, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = sp_test_tmp_dir_write (tmp, "ksmtuned.conf",
                                                 "KSM_NPAGES_MAX=2000\r\nKSM_NPAGES_MAX=lots\r\n");

  config->npages_max = 1500;
  g_assert_true (sp_config_import_ksmtuned (config, path, warnings, NULL));
  g_assert_cmpuint (warnings->len, ==, 1);
  sp_test_assert_contains (g_ptr_array_index (warnings, 0),
                           ":2: KSM_NPAGES_MAX='lots' is not an integer; "
                           "keeping 1500");
  g_assert_cmpint (config->npages_max, ==, 1500);
}

/* DEBUG and LOGFILE: one warning for both, saying why, values still read. */
static void
test_ksmtuned_debug_logfile (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_data_path (NULL, "ksmtuned-debug.conf");
  g_autofree char *prefix = g_strdup_printf ("%s:2: DEBUG: ", path);

  g_assert_true (sp_config_import_ksmtuned (config, path, warnings, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (warnings, 0), prefix));
  sp_test_assert_contains (g_ptr_array_index (warnings, 0), "ignores DEBUG and LOGFILE");
  sp_test_assert_contains (g_ptr_array_index (warnings, 0), "journal");
  sp_test_assert_contains (g_ptr_array_index (warnings, 0), "--verbose");
  g_assert_cmpint (config->npages_max, ==, 2000);
}

/* Values in range, but npages_min > npages_max together: both fall back. */
static void
test_ksmtuned_inverted (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_data_path (NULL, "ksmtuned-inverted.conf");
  g_autofree char *expect = g_strdup_printf (
      "%s:3: KSM_NPAGES_MIN=2000 is greater than KSM_NPAGES_MAX=1250; using the defaults 64 and "
      "1250",
      path);

  g_assert_true (sp_config_import_ksmtuned (config, path, warnings, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (warnings, 0), ==, expect);
  g_assert_cmpint (config->npages_min, ==, 64);
  g_assert_cmpint (config->npages_max, ==, 1250);
  g_assert_cmpint (config->npages_boost, ==, 500);
  g_assert_true (sp_config_validate (config, &error));
}

/* A directory or a binary file is an error, and changes nothing. */
static void
test_ksmtuned_not_a_file (SpTestTmpDir *tmp, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (tmp->dir, "binary.conf", NULL);

  g_assert_false (sp_config_import_ksmtuned (config, tmp->dir, NULL, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, "KSM_NPAGES_MAX=2000\n\0\n", 22, NULL));
  g_assert_false (sp_config_import_ksmtuned (config, path, NULL, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
  sp_test_assert_contains (error->message, path);
  g_assert_true (sp_config_equal (config, defaults));
  g_unlink (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ksmtuned-import/custom", test_ksmtuned_custom);
  g_test_add_func ("/ksmtuned-import/debian-and-missing", test_ksmtuned_debian_and_missing);
  g_test_add_func ("/ksmtuned-import/malformed", test_ksmtuned_malformed);
  g_test_add ("/ksmtuned-import/bad-after-good", SpTestTmpDir, NULL, sp_test_tmp_dir_setup,
              test_ksmtuned_bad_after_good, sp_test_tmp_dir_teardown);
  g_test_add_func ("/ksmtuned-import/debug-logfile", test_ksmtuned_debug_logfile);
  g_test_add_func ("/ksmtuned-import/inverted", test_ksmtuned_inverted);
  g_test_add ("/ksmtuned-import/not-a-file", SpTestTmpDir, NULL, sp_test_tmp_dir_setup,
              test_ksmtuned_not_a_file, sp_test_tmp_dir_teardown);

  return g_test_run ();
}
