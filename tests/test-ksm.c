/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The KSM sysfs reader and writer, and the file helpers under it. */
#define G_LOG_DOMAIN "test-ksm"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp-ksm.h"
#include "sp-io.h"
#include "sp-test.h"

/* ---- file helpers (sp-sysfs) ---------------------------------------- */

static void
test_sysfs_parse_integers (void)
{
  const struct {
    const char *str;
    gboolean u_ok;
    guint64 u;
    gboolean i_ok;
    gint64 i;
  } cases[] = {
    { "0", TRUE, 0, TRUE, 0 },
    { "42\n", TRUE, 42, TRUE, 42 },
    { "  42 \n", TRUE, 42, TRUE, 42 },
    { "\t7\t", TRUE, 7, TRUE, 7 },
    { "-5\n", FALSE, 0, TRUE, -5 },
    { "18446744073709551615", TRUE, G_MAXUINT64, FALSE, 0 },
    { "18446744073709551616", FALSE, 0, FALSE, 0 },
    { "9223372036854775807", TRUE, G_MAXINT64, TRUE, G_MAXINT64 },
    { "-9223372036854775808", FALSE, 0, TRUE, G_MININT64 },
    { "-9223372036854775809", FALSE, 0, FALSE, 0 },
    { "42x", FALSE, 0, FALSE, 0 },
    { "42 x", FALSE, 0, FALSE, 0 },
    { "4 2", FALSE, 0, FALSE, 0 },
    { "x42", FALSE, 0, FALSE, 0 },
    { "0x10", FALSE, 0, FALSE, 0 },
    { "1.5", FALSE, 0, FALSE, 0 },
    { "", FALSE, 0, FALSE, 0 },
    { " \n", FALSE, 0, FALSE, 0 },
    { "[none] scan-time\n", FALSE, 0, FALSE, 0 },
  };

  for (gsize n = 0; n < G_N_ELEMENTS (cases); n++)
    {
      guint64 u = 12345;
      gint64 i = 12345;

      g_autofree char *escaped = g_strescape (cases[n].str, NULL);

      g_test_message ("parsing \"%s\"", escaped);
      g_assert_cmpint (sp_parse_u64 (cases[n].str, &u), ==, cases[n].u_ok);
      g_assert_cmpuint (u, ==, cases[n].u_ok ? cases[n].u : 12345);
      g_assert_cmpint (sp_parse_i64 (cases[n].str, &i), ==, cases[n].i_ok);
      g_assert_cmpint (i, ==, cases[n].i_ok ? cases[n].i : 12345);
    }
  g_assert_false (sp_parse_u64 (NULL, NULL));
  g_assert_false (sp_parse_i64 (NULL, NULL));
}

static void
test_sysfs_join_root (void)
{
  g_autofree char *a = sp_path_join_root ("/sys", "kernel/mm/ksm/run");
  g_autofree char *b = sp_path_join_root ("/tmp/root/", "kernel/mm/ksm");
  g_autofree char *ksm = sp_ksm_dir ("/tmp/x");

  g_assert_cmpstr (a, ==, "/sys/kernel/mm/ksm/run");
  g_assert_cmpstr (b, ==, "/tmp/root/kernel/mm/ksm");
  g_assert_cmpstr (ksm, ==, "/tmp/x/kernel/mm/ksm");
}

static void
test_sysfs_read_errors (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *knob = NULL;
  g_autofree char *contents = NULL;
  guint64 u = 0;
  gint64 i = 0;

  sp_test_sysfs_init (&t, "sysfs-6.18");
  missing = sp_test_sysfs_path (&t, "no_such_file");
  knob = sp_test_sysfs_path (&t, "pages_to_scan");

  g_assert_false (sp_file_read_string (missing, &contents, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_assert_nonnull (strstr (error->message, "ENOENT"));
  g_assert_null (contents);
  g_clear_error (&error);

  /* /proc files report size 0 yet have content */
  g_assert_true (sp_file_read_string ("/proc/self/stat", &contents, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (contents), >, 0);
  g_clear_pointer (&contents, g_free);

  g_assert_true (sp_file_read_u64 (knob, &u, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (u, ==, 100);
  g_assert_true (sp_file_read_i64 (knob, &i, &error));
  g_assert_no_error (error);
  g_assert_cmpint (i, ==, 100);

  sp_test_sysfs_set (&t, "pages_to_scan", "-3\n");
  g_assert_false (sp_file_read_u64 (knob, &u, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, knob));
  g_assert_nonnull (strstr (error->message, "-3"));
  g_clear_error (&error);
  g_assert_true (sp_file_read_i64 (knob, &i, &error));
  g_assert_cmpint (i, ==, -3);

  sp_test_sysfs_set (&t, "pages_to_scan", "12abc\n");
  g_assert_false (sp_file_read_i64 (knob, &i, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, knob));
  g_assert_nonnull (strstr (error->message, "12abc"));
  g_clear_error (&error);

  sp_test_sysfs_clear (&t);
}

static void
test_sysfs_write_proc_einval (void)
{
  g_autoptr (GError) error = NULL;

  /* the kernel rejects this before any permission check; nothing changes */
  g_assert_false (sp_file_write_string ("/proc/self/oom_score_adj", "abc", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==,
                   "Cannot write abc to /proc/self/oom_score_adj: Invalid argument (EINVAL)");
}

static void
test_sysfs_replace (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = sp_test_make_tmp_dir ();
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *bad = NULL;
  g_autoptr (GDir) listing = NULL;
  guint n_entries = 0;

  path = g_build_filename (dir, "metrics.prom", NULL);

  g_assert_true (sp_file_replace (path, "first version, longer\n", &error));
  g_assert_no_error (error);
  g_assert_true (sp_file_replace (path, "second\n", &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "second\n");

  /* no temporary file left behind */
  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  while (g_dir_read_name (listing) != NULL)
    n_entries++;
  g_assert_cmpuint (n_entries, ==, 1);

  bad = g_build_filename (dir, "no-such-dir", "state", NULL);
  g_assert_false (sp_file_replace (bad, "x", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no-such-dir"));

  sp_test_remove_tree (dir);
}

/* ---- field table ---------------------------------------------------- */

static void
test_ksm_field_names (void)
{
  const SpKsmField knobs[] = {
    SP_KSM_RUN,
    SP_KSM_PAGES_TO_SCAN,
    SP_KSM_SLEEP_MILLISECS,
    SP_KSM_MAX_PAGE_SHARING,
    SP_KSM_MERGE_ACROSS_NODES,
    SP_KSM_USE_ZERO_PAGES,
    SP_KSM_SMART_SCAN,
    SP_KSM_ADVISOR_MODE,
    SP_KSM_ADVISOR_TARGET_SCAN_TIME,
    SP_KSM_ADVISOR_MAX_CPU,
    SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN,
    SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN,
  };
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  guint n_knobs = 0;
  SpKsmField field;

  for (guint i = 0; i < SP_KSM_N_FIELDS; i++)
    {
      const char *name = sp_ksm_field_name (i);

      g_assert_nonnull (name);
      g_assert_false (g_hash_table_contains (names, name));
      g_hash_table_add (names, (gpointer) name);
      g_assert_true (sp_ksm_field_from_name (name, &field));
      g_assert_cmpint (field, ==, i);
      if (sp_ksm_field_is_knob (i))
        n_knobs++;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (knobs); i++)
    g_assert_true (sp_ksm_field_is_knob (knobs[i]));
  g_assert_cmpuint (n_knobs, ==, G_N_ELEMENTS (knobs));

  g_assert_cmpstr (sp_ksm_field_name (SP_KSM_PAGES_TO_SCAN), ==, "pages_to_scan");
  g_assert_cmpstr (sp_ksm_field_name (SP_KSM_GENERAL_PROFIT), ==, "general_profit");
  g_assert_cmpstr (sp_ksm_field_name (SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN), ==,
                   "advisor_max_pages_to_scan");
  g_assert_false (sp_ksm_field_from_name ("stable_node_chains_prune_millisecs", &field));
  g_assert_false (sp_ksm_field_from_name ("", &field));
  g_assert_false (sp_ksm_field_from_name (NULL, &field));
  g_assert_false (sp_ksm_field_is_knob (SP_KSM_PAGES_SHARING));
  g_assert_false (sp_ksm_field_is_knob (SP_KSM_GENERAL_PROFIT));
  g_assert_false (sp_ksm_field_is_knob (SP_KSM_N_FIELDS));
}

static void
test_ksm_advisor_mode_parse (void)
{
  const struct {
    const char *str;
    gboolean ok;
    SpKsmAdvisorMode mode;
  } cases[] = {
    { "[none] scan-time\n", TRUE, SP_KSM_ADVISOR_NONE },
    { "none [scan-time]\n", TRUE, SP_KSM_ADVISOR_SCAN_TIME },
    { "[none] scan-time", TRUE, SP_KSM_ADVISOR_NONE },
    { "none", TRUE, SP_KSM_ADVISOR_NONE },
    { "scan-time", TRUE, SP_KSM_ADVISOR_SCAN_TIME },
    { " scan-time\n", TRUE, SP_KSM_ADVISOR_SCAN_TIME },
    /* a later kernel listing a mode this version does not know */
    { "none [scan-time] future-mode\n", TRUE, SP_KSM_ADVISOR_SCAN_TIME },
    { "none scan-time [future-mode]\n", FALSE, 0 },
    { "", FALSE, 0 },
    { "\n", FALSE, 0 },
    { "garbage", FALSE, 0 },
    { "None", FALSE, 0 },
    { "none scan-time", FALSE, 0 },
    { "[none] [scan-time]", FALSE, 0 },
    { "[none", FALSE, 0 },
    { "none]", FALSE, 0 },
    { "[]", FALSE, 0 },
    { "[[none]] scan-time", FALSE, 0 },
    { "[none] scan-time!", FALSE, 0 },
    { "1", FALSE, 0 },
  };

  for (gsize n = 0; n < G_N_ELEMENTS (cases); n++)
    {
      g_autofree char *escaped = g_strescape (cases[n].str, NULL);
      SpKsmAdvisorMode mode = 99;

      g_test_message ("parsing \"%s\"", escaped);
      g_assert_cmpint (sp_ksm_advisor_mode_parse (cases[n].str, &mode), ==, cases[n].ok);
      g_assert_cmpint (mode, ==, cases[n].ok ? cases[n].mode : 99);
    }
  g_assert_false (sp_ksm_advisor_mode_parse (NULL, NULL));
  g_assert_cmpstr (sp_ksm_advisor_mode_to_string (SP_KSM_ADVISOR_NONE), ==, "none");
  g_assert_cmpstr (sp_ksm_advisor_mode_to_string (SP_KSM_ADVISOR_SCAN_TIME), ==, "scan-time");
}

/* ---- reading -------------------------------------------------------- */

static void
test_ksm_read_6_18 (void)
{
  const struct {
    SpKsmField field;
    gint64 value;
  } expected[] = {
    { SP_KSM_RUN, SP_KSM_RUN_MERGE },
    { SP_KSM_PAGES_TO_SCAN, 100 },
    { SP_KSM_SLEEP_MILLISECS, 20 },
    { SP_KSM_PAGES_SHARED, 4321 },
    { SP_KSM_PAGES_SHARING, 98765 },
    { SP_KSM_PAGES_UNSHARED, 55555 },
    { SP_KSM_PAGES_VOLATILE, 777 },
    { SP_KSM_FULL_SCANS, 12 },
    { SP_KSM_PAGES_SCANNED, 123456789 },
    { SP_KSM_PAGES_SKIPPED, 3333 },
    { SP_KSM_GENERAL_PROFIT, -G_GINT64_CONSTANT (8589934592) },
    { SP_KSM_KSM_ZERO_PAGES, 42 },
    { SP_KSM_MAX_PAGE_SHARING, 256 },
    { SP_KSM_MERGE_ACROSS_NODES, 1 },
    { SP_KSM_USE_ZERO_PAGES, 0 },
    { SP_KSM_SMART_SCAN, 1 },
    { SP_KSM_STABLE_NODE_CHAINS, 3 },
    { SP_KSM_STABLE_NODE_DUPS, 9 },
    { SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_NONE },
    { SP_KSM_ADVISOR_TARGET_SCAN_TIME, 200 },
    { SP_KSM_ADVISOR_MAX_CPU, 70 },
    { SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN, 500 },
    { SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, 30000 },
  };
  g_autofree char *root = sp_test_data_path (NULL, "sysfs-6.18");
  g_autoptr (GError) error = NULL;
  SpKsmState state;

  G_STATIC_ASSERT (G_N_ELEMENTS (expected) == SP_KSM_N_FIELDS);

  memset (&state, 0xaa, sizeof (state));
  g_assert_true (sp_ksm_read (root, &state, &error));
  g_assert_no_error (error);
  g_assert_true (state.available);
  g_assert_cmphex (state.present, ==, (G_GUINT64_CONSTANT (1) << SP_KSM_N_FIELDS) - 1);
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_test_message ("field %s", sp_ksm_field_name (expected[i].field));
      g_assert_true (sp_ksm_state_has (&state, expected[i].field));
      g_assert_cmpint (sp_ksm_state_get (&state, expected[i].field), ==, expected[i].value);
    }
  g_assert_true (sp_ksm_state_has_advisor (&state));
}

static void
test_ksm_read_advisor_selected (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  SpKsmState state;

  sp_test_sysfs_init (&t, "sysfs-6.18");
  sp_test_sysfs_set (&t, "advisor_mode", "none [scan-time]\n");
  g_assert_true (sp_ksm_read (t.root, &state, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_ADVISOR_MODE), ==, SP_KSM_ADVISOR_SCAN_TIME);
  sp_test_sysfs_clear (&t);
}

static void
test_ksm_read_old_kernel (void)
{
  const SpKsmField absent[] = {
    SP_KSM_PAGES_SCANNED,
    SP_KSM_PAGES_SKIPPED,
    SP_KSM_GENERAL_PROFIT,
    SP_KSM_KSM_ZERO_PAGES,
    SP_KSM_SMART_SCAN,
    SP_KSM_ADVISOR_MODE,
    SP_KSM_ADVISOR_TARGET_SCAN_TIME,
    SP_KSM_ADVISOR_MAX_CPU,
    SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN,
    SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN,
  };
  g_autofree char *root = sp_test_data_path (NULL, "sysfs-5.10-noadvisor");
  g_autoptr (GError) error = NULL;
  SpKsmState state;
  guint64 absent_mask = 0;
  guint64 all_mask;

  g_assert_true (sp_ksm_read (root, &state, &error));
  g_assert_no_error (error);
  g_assert_true (state.available);
  for (gsize i = 0; i < G_N_ELEMENTS (absent); i++)
    {
      g_assert_false (sp_ksm_state_has (&state, absent[i]));
      g_assert_cmpint (sp_ksm_state_get (&state, absent[i]), ==, 0);
      absent_mask |= G_GUINT64_CONSTANT (1) << absent[i];
    }
  /* everything else is there */
  all_mask = (G_GUINT64_CONSTANT (1) << SP_KSM_N_FIELDS) - 1;
  g_assert_cmphex (state.present, ==, all_mask & ~absent_mask);
  g_assert_false (sp_ksm_state_has_advisor (&state));

  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_RUN), ==, SP_KSM_RUN_STOP);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_PAGES_TO_SCAN), ==, 1250);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_SLEEP_MILLISECS), ==, 10);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_PAGES_SHARING), ==, 2048);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_MERGE_ACROSS_NODES), ==, 0);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_USE_ZERO_PAGES), ==, 1);
}

static void
test_ksm_read_missing_dir (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = sp_test_make_tmp_dir ();
  SpKsmState state;

  memset (&state, 0xaa, sizeof (state));
  g_assert_true (sp_ksm_read (root, &state, &error));
  g_assert_no_error (error);
  g_assert_false (state.available);
  g_assert_cmphex (state.present, ==, 0);
  g_assert_false (sp_ksm_state_has (&state, SP_KSM_RUN));
  g_assert_false (sp_ksm_state_has_advisor (&state));
  g_assert_cmpuint (sp_ksm_state_saved_kib (&state), ==, 0);
  sp_test_remove_tree (root);
}

static void
test_ksm_read_garbage (void)
{
  const struct {
    const char *file;
    const char *contents;
    const char *shown; /* what the message quotes */
  } cases[] = {
    { "pages_to_scan", "12abc\n", "12abc" },
    { "pages_to_scan", "\n", "\\n" },
    { "pages_sharing", "-1\n", "-1" },
    { "pages_sharing", "9223372036854775808\n", "9223372036854775808" },
    { "general_profit", "lots\n", "lots" },
    { "advisor_mode", "[none scan-time\n", "[none scan-time" },
    { "advisor_mode", "none! [scan-time]\n", "none! [scan-time]" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      SpTestSysfs t;
      g_autoptr (GError) error = NULL;
      g_autofree char *path = NULL;
      SpKsmState state;

      sp_test_sysfs_init (&t, "sysfs-6.18");
      path = sp_test_sysfs_path (&t, cases[i].file);
      sp_test_sysfs_set (&t, cases[i].file, cases[i].contents);
      g_assert_false (sp_ksm_read (t.root, &state, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, path));
      g_assert_nonnull (strstr (error->message, cases[i].shown));
      sp_test_sysfs_clear (&t);
    }
}

/* A mode a later kernel adds makes advisor_mode unknown, not every field. */
static void
test_ksm_read_advisor_unknown (void)
{
  const char *const contents[] = { "none scan-time [cpu-percent]\n", "[bogus] none\n",
                                   "garbage\n" };

  for (gsize i = 0; i < G_N_ELEMENTS (contents); i++)
    {
      SpTestSysfs t;
      g_autoptr (GError) error = NULL;
      SpKsmState state;

      sp_test_sysfs_init (&t, "sysfs-6.18");
      sp_test_sysfs_set (&t, "advisor_mode", contents[i]);
      sp_test_sysfs_set (&t, "pages_sharing", "4242\n");
      g_assert_true (sp_ksm_read (t.root, &state, &error));
      g_assert_no_error (error);
      g_assert_true (state.available);
      g_assert_false (sp_ksm_state_has (&state, SP_KSM_ADVISOR_MODE));
      g_assert_false (sp_ksm_state_has_advisor (&state));
      g_assert_cmpuint (state.unknown, ==, G_GUINT64_CONSTANT (1) << SP_KSM_ADVISOR_MODE);
      /* the rest is read */
      g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_PAGES_SHARING), ==, 4242);
      g_assert_true (sp_ksm_state_has (&state, SP_KSM_ADVISOR_MAX_CPU));
      sp_test_sysfs_clear (&t);
    }
  g_assert_true (sp_ksm_advisor_mode_is_unknown ("none [later]"));
  g_assert_false (sp_ksm_advisor_mode_is_unknown ("[none] scan-time"));
  g_assert_false (sp_ksm_advisor_mode_is_unknown ("[none"));
  g_assert_false (sp_ksm_advisor_mode_is_unknown (NULL));
}

/* Only a missing file means "not supported"; other read errors are errors. */
static void
test_ksm_read_unreadable (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  SpKsmState state;

  sp_test_sysfs_init (&t, "sysfs-6.18");
  path = sp_test_sysfs_path (&t, "pages_sharing");
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_assert_false (sp_ksm_read (t.root, &state, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
  g_assert_nonnull (strstr (error->message, path));
  sp_test_sysfs_clear (&t);
}

static void
test_ksm_saved_kib (void)
{
  g_autofree char *root = sp_test_data_path (NULL, "sysfs-6.18");
  g_autoptr (GError) error = NULL;
  guint64 page_kib = (guint64) sysconf (_SC_PAGESIZE) / 1024;
  SpKsmState state;

  g_assert_true (sp_ksm_read (root, &state, &error));
  g_assert_no_error (error);
  /* pages_sharing 98765 and ksm_zero_pages 42: the zero pages count too */
  g_assert_cmpuint (sp_ksm_state_saved_kib (&state), ==, (98765 + 42) * page_kib);

  state.present &= ~(G_GUINT64_CONSTANT (1) << SP_KSM_KSM_ZERO_PAGES);
  g_assert_cmpuint (sp_ksm_state_saved_kib (&state), ==, 98765 * page_kib);
  state.present &= ~(G_GUINT64_CONSTANT (1) << SP_KSM_PAGES_SHARING);
  g_assert_cmpuint (sp_ksm_state_saved_kib (&state), ==, 0);

  /* a 4 TiB host sharing most of its memory: no 32-bit overflow */
  sp_test_ksm_set (&state, SP_KSM_PAGES_SHARING, G_GINT64_CONSTANT (1) << 30);
  g_assert_cmpuint (sp_ksm_state_saved_kib (&state), ==, (G_GUINT64_CONSTANT (1) << 30) * page_kib);
}

/* ---- writing -------------------------------------------------------- */

static void
test_ksm_write_round_trip (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  SpKsmState state;

  sp_test_sysfs_init (&t, "sysfs-6.18");

  g_assert_true (sp_ksm_write (t.root, SP_KSM_PAGES_TO_SCAN, 5000, &error));
  g_assert_no_error (error);
  g_assert_true (sp_ksm_write (t.root, SP_KSM_SLEEP_MILLISECS, 50, &error));
  g_assert_no_error (error);
  g_assert_true (sp_ksm_write (t.root, SP_KSM_RUN, SP_KSM_RUN_STOP, &error));
  g_assert_no_error (error);
  g_assert_true (sp_ksm_write (t.root, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_SCAN_TIME, &error));
  g_assert_no_error (error);

  /* exactly what `echo -n` would write */
  contents = sp_test_sysfs_get (&t, "pages_to_scan");
  g_assert_cmpstr (contents, ==, "5000");
  g_clear_pointer (&contents, g_free);
  contents = sp_test_sysfs_get (&t, "advisor_mode");
  g_assert_cmpstr (contents, ==, "scan-time");
  g_clear_pointer (&contents, g_free);

  g_assert_true (sp_ksm_read (t.root, &state, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_PAGES_TO_SCAN), ==, 5000);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_SLEEP_MILLISECS), ==, 50);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_RUN), ==, SP_KSM_RUN_STOP);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_ADVISOR_MODE), ==, SP_KSM_ADVISOR_SCAN_TIME);

  /* a shorter value replaces a longer one completely */
  g_assert_true (sp_ksm_write (t.root, SP_KSM_PAGES_TO_SCAN, 7, &error));
  g_assert_no_error (error);
  g_assert_true (sp_ksm_read (t.root, &state, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sp_ksm_state_get (&state, SP_KSM_PAGES_TO_SCAN), ==, 7);

  g_assert_true (sp_ksm_write (t.root, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_NONE, &error));
  g_assert_no_error (error);
  contents = sp_test_sysfs_get (&t, "advisor_mode");
  g_assert_cmpstr (contents, ==, "none");

  sp_test_sysfs_clear (&t);
}

static void
test_ksm_write_missing (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;

  sp_test_sysfs_init (&t, "sysfs-5.10-noadvisor");
  path = sp_test_sysfs_path (&t, "advisor_max_cpu");

  g_assert_false (sp_ksm_write (t.root, SP_KSM_ADVISOR_MAX_CPU, 40, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  expected = g_strdup_printf ("Cannot write 40 to %s: No such file or directory (ENOENT)", path);
  g_assert_cmpstr (error->message, ==, expected);
  /* never created */
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  sp_test_sysfs_clear (&t);
}

/* chmod 0444 does not stop root, a directory does. */
static void
test_ksm_write_is_directory (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;

  sp_test_sysfs_init (&t, "sysfs-6.18");
  path = sp_test_sysfs_path (&t, "pages_to_scan");
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);

  g_assert_false (sp_ksm_write (t.root, SP_KSM_PAGES_TO_SCAN, 5000, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
  expected = g_strdup_printf ("Cannot write 5000 to %s: Is a directory (EISDIR)", path);
  g_assert_cmpstr (error->message, ==, expected);

  sp_test_sysfs_clear (&t);
}

static void
test_ksm_write_invalid (void)
{
  SpTestSysfs t;
  g_autoptr (GError) error = NULL;
  g_autofree char *sharing = NULL;
  g_autofree char *pages = NULL;
  g_autofree char *mode = NULL;

  sp_test_sysfs_init (&t, "sysfs-6.18");

  /* a counter is not a knob */
  g_assert_false (sp_ksm_write (t.root, SP_KSM_PAGES_SHARING, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "pages_sharing"));
  g_clear_error (&error);

  g_assert_false (sp_ksm_write (t.root, SP_KSM_PAGES_TO_SCAN, -1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_false (sp_ksm_write (t.root, SP_KSM_ADVISOR_MODE, 2, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_false (sp_ksm_write (t.root, SP_KSM_N_FIELDS, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* nothing was written */
  sharing = sp_test_sysfs_get (&t, "pages_sharing");
  pages = sp_test_sysfs_get (&t, "pages_to_scan");
  mode = sp_test_sysfs_get (&t, "advisor_mode");
  g_assert_cmpstr (sharing, ==, "98765\n");
  g_assert_cmpstr (pages, ==, "100\n");
  g_assert_cmpstr (mode, ==, "[none] scan-time\n");

  sp_test_sysfs_clear (&t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/sysfs/parse-integers", test_sysfs_parse_integers);
  g_test_add_func ("/sysfs/join-root", test_sysfs_join_root);
  g_test_add_func ("/sysfs/read-errors", test_sysfs_read_errors);
  g_test_add_func ("/sysfs/write-proc-einval", test_sysfs_write_proc_einval);
  g_test_add_func ("/sysfs/replace", test_sysfs_replace);
  g_test_add_func ("/ksm/field-names", test_ksm_field_names);
  g_test_add_func ("/ksm/advisor-mode-parse", test_ksm_advisor_mode_parse);
  g_test_add_func ("/ksm/read/6.18", test_ksm_read_6_18);
  g_test_add_func ("/ksm/read/advisor-selected", test_ksm_read_advisor_selected);
  g_test_add_func ("/ksm/read/old-kernel", test_ksm_read_old_kernel);
  g_test_add_func ("/ksm/read/missing-dir", test_ksm_read_missing_dir);
  g_test_add_func ("/ksm/read/garbage", test_ksm_read_garbage);
  g_test_add_func ("/ksm/read/advisor-unknown", test_ksm_read_advisor_unknown);
  g_test_add_func ("/ksm/read/unreadable", test_ksm_read_unreadable);
  g_test_add_func ("/ksm/saved-kib", test_ksm_saved_kib);
  g_test_add_func ("/ksm/write/round-trip", test_ksm_write_round_trip);
  g_test_add_func ("/ksm/write/missing", test_ksm_write_missing);
  g_test_add_func ("/ksm/write/is-directory", test_ksm_write_is_directory);
  g_test_add_func ("/ksm/write/invalid", test_ksm_write_invalid);

  return g_test_run ();
}
