/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The /proc/meminfo reader: layouts old and new, huge hosts, bad input. */
#define G_LOG_DOMAIN "test-meminfo"

#include <glib/gstdio.h>
#include <string.h>

#include "sp-meminfo.h"
#include "sp-test.h"

static gboolean
parse_fixture (const char *name, SpMeminfo *info, GError **error)
{
  g_autofree char *contents = sp_test_load_data (NULL, name, NULL);

  memset (info, 0xaa, sizeof (*info));
  return sp_meminfo_parse (contents, info, error);
}

/* The layout of the kernel this project is developed on (6.18). */
static void
test_meminfo_current (void)
{
  g_autoptr (GError) error = NULL;
  SpMeminfo info;

  g_assert_true (parse_fixture ("meminfo-6.18.txt", &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.total_kib, ==, 24684092);
  g_assert_cmpuint (info.free_kib, ==, 24422308);
  g_assert_cmpuint (info.available_kib, ==, 24393216);
  g_assert_cmpuint (info.buffers_kib, ==, 516);
  g_assert_cmpuint (info.cached_kib, ==, 135548);
  g_assert_false (info.available_estimated);

  g_assert_cmpuint (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_AVAILABLE), ==, 24393216);
  g_assert_cmpuint (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_KSMTUNED), ==,
                    24422308 + 516 + 135548);
}

/* Before Linux 3.14 there is no MemAvailable. */
static void
test_meminfo_no_memavailable (void)
{
  g_autoptr (GError) error = NULL;
  SpMeminfo info;

  g_assert_true (parse_fixture ("meminfo-3.2-no-memavailable.txt", &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.total_kib, ==, 8167848);
  g_assert_cmpuint (info.free_kib, ==, 1219616);
  g_assert_cmpuint (info.buffers_kib, ==, 263940);
  g_assert_cmpuint (info.cached_kib, ==, 3395384);
  g_assert_true (info.available_estimated);
  g_assert_cmpuint (info.available_kib, ==, 1219616 + 263940 + 3395384);
  g_assert_cmpuint (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_AVAILABLE), ==,
                    1219616 + 263940 + 3395384);
  g_assert_cmpuint (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_KSMTUNED), ==,
                    1219616 + 263940 + 3395384);
}

/* 4 TiB of RAM is 2^32 KiB: one past what 32 bits hold. */
static void
test_meminfo_4tib (void)
{
  g_autoptr (GError) error = NULL;
  SpMeminfo info;

  g_assert_true (parse_fixture ("meminfo-4tib.txt", &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.total_kib, ==, G_GUINT64_CONSTANT (4294967296));
  g_assert_cmpuint (info.free_kib, ==, G_GUINT64_CONSTANT (3221225472));
  g_assert_cmpuint (info.available_kib, ==, G_GUINT64_CONSTANT (3758096384));
  g_assert_cmpuint (info.buffers_kib, ==, 10485760);
  g_assert_cmpuint (info.cached_kib, ==, 536870912);
  g_assert_false (info.available_estimated);
  g_assert_cmpuint (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_KSMTUNED), ==,
                    G_GUINT64_CONSTANT (3221225472) + 10485760 + 536870912);
}

static void
assert_parse_error (const char *fixture, const char *expected_substring)
{
  g_autoptr (GError) error = NULL;
  SpMeminfo info;
  SpMeminfo before;

  g_test_message ("fixture %s", fixture);
  g_assert_false (parse_fixture (fixture, &info, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, expected_substring));
  /* the output is left alone on error */
  memset (&before, 0xaa, sizeof (before));
  g_assert_cmpmem (&info, sizeof (info), &before, sizeof (before));
}

static void
test_meminfo_missing_memtotal (void)
{
  assert_parse_error ("meminfo-no-memtotal.txt", "MemTotal");
}

static void
test_meminfo_malformed (void)
{
  assert_parse_error ("meminfo-malformed.txt", "MemFree");
  assert_parse_error ("meminfo-malformed.txt", "2451x940");
}

static void
test_meminfo_overflow (void)
{
  assert_parse_error ("meminfo-overflow.txt", "MemTotal");
  assert_parse_error ("meminfo-overflow.txt", "99999999999999999999");
}

static void
test_meminfo_bad_unit (void)
{
  assert_parse_error ("meminfo-bad-unit.txt", "MB");
}

/* Inline cases for the edges of the line format. */
static void
test_meminfo_lines (void)
{
  const struct {
    const char *text;
    gboolean ok;
    guint64 total_kib;
  } cases[] = {
    /* unknown lines, lines without a colon and unit-less lines are ignored */
    { "Junk line\nMemTotal: 10 kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n"
      "HugePages_Total: 0\nWeird: x y z\n",
      TRUE, 10 },
    /* no trailing newline, tabs, a value without unit */
    { "MemTotal:\t10\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB", TRUE, 10 },
    /* MemTotal counted once only */
    { "MemTotal: 10 kB\nMemTotal: 11 kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    /* a byte count past 64 bits is refused even when the KiB count fits */
    { "MemTotal: 18014398509481984 kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    { "MemTotal: 18014398509481983 kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", TRUE,
      G_GUINT64_CONSTANT (18014398509481983) },
    { "MemTotal: -10 kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    { "MemTotal: kB\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    { "MemTotal:\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    { "MemTotal: 10 kB extra\nMemFree: 1 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    { "MemTotal: 10 kB\nMemFree: 1 kB\nBuffers: 2 kB\n", FALSE, 0 },
    { "MemTotal: 10 kB\nMemFree: 1 kB\nCached: 3 kB\n", FALSE, 0 },
    { "MemTotal: 10 kB\nBuffers: 2 kB\nCached: 3 kB\n", FALSE, 0 },
    { "", FALSE, 0 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *escaped = g_strescape (cases[i].text, NULL);
      SpMeminfo info = { 0 };

      g_test_message ("parsing \"%s\"", escaped);
      g_assert_cmpint (sp_meminfo_parse (cases[i].text, &info, &error), ==, cases[i].ok);
      if (cases[i].ok)
        {
          g_assert_no_error (error);
          g_assert_cmpuint (info.total_kib, ==, cases[i].total_kib);
          g_assert_cmpuint (info.free_kib, ==, 1);
          g_assert_cmpuint (info.buffers_kib, ==, 2);
          g_assert_cmpuint (info.cached_kib, ==, 3);
          g_assert_cmpuint (info.available_kib, ==, 6);
          g_assert_true (info.available_estimated);
        }
      else
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
        }
    }
}

static void
test_meminfo_read (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = sp_test_make_tmp_dir ();
  g_autofree char *path = NULL;
  g_autofree char *good = sp_test_load_data (NULL, "meminfo-4tib.txt", NULL);
  g_autofree char *bad = sp_test_load_data (NULL, "meminfo-no-memtotal.txt", NULL);
  SpMeminfo info;

  path = g_build_filename (root, "meminfo", NULL);

  /* no file */
  g_assert_false (sp_meminfo_read (root, &info, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, good, -1, NULL));
  g_assert_true (sp_meminfo_read (root, &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.total_kib, ==, G_GUINT64_CONSTANT (4294967296));

  /* a parse error names the file */
  g_assert_true (g_file_set_contents (path, bad, -1, NULL));
  g_assert_false (sp_meminfo_read (root, &info, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "MemTotal"));
  g_clear_error (&error);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (root), ==, 0);

  /* the real one parses, whatever this host has */
  g_assert_true (sp_meminfo_read ("/proc", &info, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (info.total_kib, >, 0);
  g_assert_cmpuint (info.available_kib, <=, info.total_kib);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/meminfo/current", test_meminfo_current);
  g_test_add_func ("/meminfo/no-memavailable", test_meminfo_no_memavailable);
  g_test_add_func ("/meminfo/4tib", test_meminfo_4tib);
  g_test_add_func ("/meminfo/missing-memtotal", test_meminfo_missing_memtotal);
  g_test_add_func ("/meminfo/malformed", test_meminfo_malformed);
  g_test_add_func ("/meminfo/overflow", test_meminfo_overflow);
  g_test_add_func ("/meminfo/bad-unit", test_meminfo_bad_unit);
  g_test_add_func ("/meminfo/lines", test_meminfo_lines);
  g_test_add_func ("/meminfo/read", test_meminfo_read);

  return g_test_run ();
}
