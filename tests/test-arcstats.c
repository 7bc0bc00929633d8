/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * free_source = available+arc: the arcstats parser (sp-arcstats.h), and the
 * tuner counting the ARC's shrinkable part on a fake procfs, or MemAvailable
 * alone (one warning) without a readable arcstats.
 */
#define G_LOG_DOMAIN "test-arcstats"

#include "sp-arcstats.h"
#include "sp-meminfo.h"
#include "sp-test.h"
#include "sp-tuner.h"

/* MemAvailable of tests/data/meminfo-6.18.txt */
#define AVAILABLE_KIB G_GUINT64_CONSTANT (24393216)

#define ARC_HEAD                                   \
  "13 1 0x01 123 33456 4126445296 1234567890123\n" \
  "name                            type data\n"

/* size 8 GiB + 4 KiB, c_min 1 GiB: 7 GiB + 4 KiB shrinkable */
#define ARC_TEXT                                                \
  ARC_HEAD "hits                            4    98765\n"       \
           "size                            4    8589938688\n"  \
           "c                               4    8589934592\n"  \
           "c_min                           4    1073741824\n"  \
           "c_max                           4    12884901888\n" \
           "arc_raw_size                    4    0\n"

static void
test_parse (void)
{
  static const struct {
    const char *text;
    const char *error; /* NULL: parses */
    guint64 shrinkable_kib;
  } cases[] = {
    { ARC_TEXT, NULL, 7 * 1024 * 1024 + 4 },
    /* below c_min (the ARC was just shrunk): nothing, not a wrapped value */
    { ARC_HEAD "size 4 1000\nc_min 4 1073741824\n", NULL, 0 },
    { ARC_HEAD "c_min 4 0\nsize 4 18446744073709551615\n", NULL, G_MAXUINT64 / 1024 },
    /* rows samepaged does not read may have any form */
    { ARC_HEAD "odd\n\nweird 1 2 3 4\nsize 4 2048\nc_min 4 0\n", NULL, 2 },
    { "", "line 1: not a kstat header", 0 },
    { "name type data\nsize 4 1\nc_min 4 0\n", "line 1: not a kstat header", 0 },
    { "13 1 0x01\nname type\nsize 4 1\nc_min 4 0\n", "line 2: expected \"name type data\"", 0 },
    { ARC_HEAD "size 4 1\n", "no c_min row", 0 },
    { ARC_HEAD "c_min 4 1\n", "no size row", 0 },
    { ARC_HEAD "size 4 1\nsize 4 2\nc_min 4 0\n", "line 4: repeated row", 0 },
    { ARC_HEAD "size 3 1\nc_min 4 0\n", "line 3: expected \"<name> 4 <bytes>\"", 0 },
    { ARC_HEAD "size 4 -1\nc_min 4 0\n", "expected \"<name> 4 <bytes>\"", 0 },
    { ARC_HEAD "size 4 1 1\nc_min 4 0\n", "expected \"<name> 4 <bytes>\"", 0 },
    { ARC_HEAD "size 4 18446744073709551616\nc_min 4 0\n", "expected \"<name> 4 <bytes>\"", 0 },
    { ARC_HEAD "size 4 0x10\nc_min 4 0\n", "expected \"<name> 4 <bytes>\"", 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 kib = 12345;
      gboolean ok = sp_arcstats_parse (cases[i].text, &kib, &error);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, ok ? "ok" : error->message);
      if (cases[i].error == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpuint (kib, ==, cases[i].shrinkable_kib);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
          sp_test_assert_contains (error->message, cases[i].error);
          g_assert_cmpuint (kib, ==, 12345);
        }
    }
}

static void
test_read (SpTestTmpDir *tmp, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  guint64 kib = 0;

  g_assert_false (sp_arcstats_read (tmp->dir, &kib, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  sp_test_write_in (tmp->dir, "spl/kstat/zfs/arcstats", ARC_HEAD "size 4 1\n", -1);
  g_assert_false (sp_arcstats_read (tmp->dir, &kib, &error));
  sp_test_assert_contains (error->message, "spl/kstat/zfs/arcstats: Invalid arcstats: no c_min");
  g_clear_error (&error);

  sp_test_write_in (tmp->dir, "spl/kstat/zfs/arcstats", ARC_TEXT, -1);
  g_assert_true (sp_arcstats_read (tmp->dir, &kib, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kib, ==, 7 * 1024 * 1024 + 4);
}

static void
test_free_kib (void)
{
  SpMeminfo mem = { .available_kib = 1000, .arc_shrinkable_kib = 500, .has_arc = TRUE };

  g_assert_cmpuint (sp_meminfo_free_kib (&mem, SP_FREE_SOURCE_AVAILABLE_ARC), ==, 1500);
  g_assert_cmpuint (sp_meminfo_free_kib (&mem, SP_FREE_SOURCE_AVAILABLE), ==, 1000);
  mem.has_arc = FALSE;
  g_assert_cmpuint (sp_meminfo_free_kib (&mem, SP_FREE_SOURCE_AVAILABLE_ARC), ==, 1000);
}

/* The tuner's decisions count the ARC; without arcstats MemAvailable alone,
 * with one warning, and again the ARC once it is readable. */
static void
test_tuner (SpTestTmpDir *tmp, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpTuner) tuner = NULL;
  g_autofree char *proc = g_build_filename (tmp->dir, "proc", NULL);
  SpSnapshot *snapshot;

  sp_test_log_capture ();
  sp_test_log_clear ();
  config->free_source = SP_FREE_SOURCE_AVAILABLE_ARC;
  sp_test_write_in (proc, "spl/kstat/zfs/arcstats", ARC_TEXT, -1);
  tuner = sp_test_tuner_new (tmp->dir, config);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_true (snapshot->mem.has_arc);
  g_assert_cmpuint (snapshot->decision.free_kib, ==, AVAILABLE_KIB + 7 * 1024 * 1024 + 4);
  sp_test_assert_contains (snapshot->decision.reason, "available+arc 30.3 GiB");

  /* gone (ZFS unloaded): MemAvailable alone, one warning for two decisions */
  sp_test_remove_tree (proc);
  {
    /* a new tuner: sp_test_tuner_new () writes proc/meminfo again */
    g_autoptr (SpTuner) other = sp_test_tuner_new (tmp->dir, config);

    sp_tuner_retune (other);
    snapshot = sp_tuner_get_snapshot (other);
    g_assert_false (snapshot->mem.has_arc);
    g_assert_cmpuint (snapshot->decision.free_kib, ==, AVAILABLE_KIB);
    sp_test_assert_contains (snapshot->decision.reason, "available 23.3 GiB");
    g_assert_cmpuint (sp_test_log_count ("WARNING free_source = available+arc, but the ZFS ARC "
                                         "size is unknown (*arcstats*); counting MemAvailable "
                                         "alone"),
                      ==, 1);

    sp_test_write_in (proc, "spl/kstat/zfs/arcstats", ARC_TEXT, -1);
    sp_tuner_retune (other);
    g_assert_true (sp_tuner_get_snapshot (other)->mem.has_arc);
    g_assert_cmpuint (sp_test_log_count ("MESSAGE ZFS ARC size readable again"), ==, 1);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/arcstats/parse", test_parse);
  g_test_add ("/arcstats/read", SpTestTmpDir, NULL, sp_test_tmp_dir_setup, test_read,
              sp_test_tmp_dir_teardown);
  g_test_add_func ("/arcstats/free-kib", test_free_kib);
  g_test_add ("/arcstats/tuner", SpTestTmpDir, NULL, sp_test_tmp_dir_setup, test_tuner,
              sp_test_tmp_dir_teardown);
  return g_test_run ();
}
