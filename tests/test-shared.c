/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The helpers samepaged and ksmctl share (include/): text, page size, enums. */
#include <unistd.h>

#include "sp-enums.h"
#include "sp-io.h"
#include "sp-str.h"

#define MIB (G_GINT64_CONSTANT (1024))
#define GIB (MIB * 1024)

static void
test_format_kib (void)
{
  static const struct {
    gint64 kib;
    const char *text;
  } cases[] = {
    { 0, "0 KiB" },
    { 512, "512 KiB" },
    { 1023, "1023 KiB" },
    { 1024, "1.0 MiB" },
    { 512 * MIB, "512.0 MiB" },
    { 3 * GIB + 102 * MIB, "3.1 GiB" },
    /* what would round to 1024.0 of a unit is 1.0 of the next */
    { 1024 * MIB - 1, "1.0 GiB" },
    { 1023 * MIB, "1023.0 MiB" },
    { 4096 * GIB, "4.0 TiB" },
    { -1536, "-1.5 MiB" },
    { -5, "-5 KiB" },
    /* 8 ZiB: EiB is the largest unit */
    { G_MAXINT64, "8192.0 EiB" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = sp_format_kib (cases[i].kib);
      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

static void
test_quote (void)
{
  g_autofree char *plain = sp_quote ("g1");
  g_autofree char *control = sp_quote ("a\nb\"c");
  g_autofree char *null = sp_quote (NULL);
  g_autofree char *long_in = g_strnfill (SP_QUOTE_MAX + 10, 'x');
  g_autofree char *long_out = sp_quote (long_in);
  g_autofree char *cut = g_strnfill (SP_QUOTE_MAX, 'x');
  g_autofree char *expected = g_strdup_printf ("'%s...'", cut);

  g_assert_cmpstr (plain, ==, "'g1'");
  /* control characters escaped; a double quote needs none inside '' */
  g_assert_cmpstr (control, ==, "'a\\nb\"c'");
  g_assert_cmpstr (null, ==, "''");
  g_assert_cmpstr (long_out, ==, expected);
}

static void
test_page_size (void)
{
  long page = sysconf (_SC_PAGESIZE);

  g_assert_cmpuint (sp_page_size_bytes (), ==, (guint64) page);
  g_assert_cmpuint (sp_page_size_kib (), ==, (guint64) page / 1024);
}

static void
test_enum_strings (void)
{
  SpMode mode = SP_MODE_AUTO;
  SpScanRate rate = SP_SCAN_RATE_AUTO;
  SpFreeSource source = SP_FREE_SOURCE_AVAILABLE;
  SpAction action = SP_ACTION_NONE;
  SpKsmMergeable mergeable = SP_KSM_MERGEABLE_UNKNOWN;

  /* the strings are the config file's, D-Bus's and ksmctl's */
  g_assert_cmpstr (sp_mode_to_string (SP_MODE_NEVER), ==, "never");
  g_assert_true (sp_mode_from_string ("always", &mode));
  g_assert_cmpint (mode, ==, SP_MODE_ALWAYS);
  g_assert_false (sp_mode_from_string ("ALWAYS", &mode));
  g_assert_false (sp_mode_from_string (NULL, &mode));
  g_assert_cmpint (mode, ==, SP_MODE_ALWAYS);

  g_assert_cmpstr (sp_scan_rate_to_string (SP_SCAN_RATE_ADVISOR), ==, "advisor");
  g_assert_true (sp_scan_rate_from_string ("classic", &rate));
  g_assert_cmpint (rate, ==, SP_SCAN_RATE_CLASSIC);

  g_assert_cmpstr (sp_free_source_to_string (SP_FREE_SOURCE_KSMTUNED), ==, "ksmtuned");
  g_assert_true (sp_free_source_from_string ("available", &source));
  g_assert_cmpint (source, ==, SP_FREE_SOURCE_AVAILABLE);

  g_assert_cmpstr (sp_action_to_string (SP_ACTION_RUN), ==, "run");
  g_assert_cmpstr (sp_action_to_string (SP_ACTION_STOP), ==, "stop");
  g_assert_true (sp_action_from_string ("none", &action));
  g_assert_cmpint (action, ==, SP_ACTION_NONE);
  g_assert_cmpstr (sp_action_to_string ((SpAction) 42), ==, "unknown");

  g_assert_cmpstr (sp_ksm_mergeable_to_string (SP_KSM_MERGEABLE_YES), ==, "yes");
  g_assert_cmpstr (sp_ksm_mergeable_to_string (SP_KSM_MERGEABLE_NO), ==, "no");
  g_assert_cmpstr (sp_ksm_mergeable_to_string (SP_KSM_MERGEABLE_UNKNOWN), ==, "unknown");
  g_assert_true (sp_ksm_mergeable_from_string ("no", &mergeable));
  g_assert_cmpint (mergeable, ==, SP_KSM_MERGEABLE_NO);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/shared/format-kib", test_format_kib);
  g_test_add_func ("/shared/quote", test_quote);
  g_test_add_func ("/shared/page-size", test_page_size);
  g_test_add_func ("/shared/enum-strings", test_enum_strings);
  return g_test_run ();
}
