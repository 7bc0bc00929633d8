/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prometheus textfile metrics and sd_notify. */
#include <glib/gstdio.h>
#include <unistd.h>

#include "sp-io.h"
#include "sp-metrics.h"
#include "sp-notify.h"
#include "sp-test.h"

static SpSnapshot *
make_snapshot (void)
{
  SpSnapshot *s = sp_snapshot_new ();
  SpDomainInfo *d;

  s->serial = 42;
  s->time_us = G_GINT64_CONSTANT (1700000000500000);
  s->ksm.available = TRUE;
  sp_test_ksm_set (&s->ksm, SP_KSM_RUN, 1);
  sp_test_ksm_set (&s->ksm, SP_KSM_PAGES_TO_SCAN, 400);
  sp_test_ksm_set (&s->ksm, SP_KSM_PAGES_SHARING, 100);
  sp_test_ksm_set (&s->ksm, SP_KSM_FULL_SCANS, 7);
  sp_test_ksm_set (&s->ksm, SP_KSM_GENERAL_PROFIT, -8192);
  s->mem.total_kib = 16 * 1024 * 1024;
  s->mem.available_kib = 1024 * 1024;
  s->decision.action = SP_ACTION_RUN;
  s->decision.committed_kib = 786432;
  s->decision.threshold_kib = 3355443;
  s->decision.free_kib = 1024 * 1024;
  s->guests = sp_guests_new ();
  s->guests->connected = TRUE;
  d = sp_domain_info_new ();
  d->name = g_strdup ("web \"1\"\\\nx");
  d->uuid = g_strdup ("11111111-1111-4111-8111-111111111111");
  d->active = TRUE;
  d->current_kib = 524288;
  d->ksm_merging_pages = 1234;
  g_ptr_array_add (s->guests->domains, d);
  d = sp_domain_info_new ();
  d->name = g_strdup ("off");
  d->uuid = g_strdup ("66666666-6666-4666-8666-666666666666");
  d->active = FALSE;
  d->mergeable = FALSE;
  g_ptr_array_add (s->guests->domains, d);
  sp_guests_finish (s->guests);
  return s;
}

/* Looks up the value of one exact series ("name" or "name{labels}"). */
static double
series_value (const char *text, const char *series)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (char **l = lines; *l != NULL; l++)
    {
      if (g_str_has_prefix (*l, series) && (*l)[strlen (series)] == ' ')
        return g_ascii_strtod (*l + strlen (series) + 1, NULL);
    }
  g_error ("series %s not found in:\n%s", series, text);
  return 0;
}

/* Every line is a comment (HELP/TYPE) or a sample of a family declared
 * before it; label values are quoted with escapes. */
static void
assert_exposition_format (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GHashTable) typed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GRegex) help = g_regex_new ("^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$", 0, 0, NULL);
  g_autoptr (GRegex) type =
      g_regex_new ("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$", 0, 0, NULL);
  g_autoptr (GRegex) sample =
      g_regex_new ("^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                   "(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\""
                   "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\\n]|\\\\[\\\\\"n])*\")*\\})?"
                   " -?[0-9.e+-]+$",
                   0, 0, NULL);

  g_assert_true (g_str_has_suffix (text, "\n"));
  for (char **l = lines; *l != NULL; l++)
    {
      g_autoptr (GMatchInfo) m = NULL;

      if (**l == '\0')
        continue;
      if (g_regex_match (help, *l, 0, NULL))
        continue;
      if (g_regex_match (type, *l, 0, &m))
        {
          g_assert_true (g_hash_table_add (typed, g_match_info_fetch (m, 1)));
          continue;
        }
      g_clear_pointer (&m, g_match_info_free);
      if (!g_regex_match (sample, *l, 0, &m))
        g_error ("not a valid exposition line: %s", *l);
      {
        g_autofree char *name = g_match_info_fetch (m, 1);
        if (!g_hash_table_contains (typed, name))
          g_error ("sample of undeclared family: %s", *l);
      }
    }
}

static void
test_metrics_format (void)
{
  g_autoptr (SpSnapshot) s = make_snapshot ();
  g_autofree char *text = sp_metrics_format (s);
  double page = (double) sysconf (_SC_PAGESIZE);

  assert_exposition_format (text);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_run"), ==, 1);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_pages_to_scan"), ==, 400);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_full_scans_total"), ==, 7);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_saved_bytes"), ==, 100 * page);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_general_profit_bytes"), ==, -8192);
  g_assert_cmpfloat (series_value (text, "samepage_memory_committed_bytes"), ==, 786432.0 * 1024);
  g_assert_cmpfloat (series_value (text, "samepage_memory_threshold_bytes"), ==, 3355443.0 * 1024);
  g_assert_cmpfloat (series_value (text, "samepage_memory_total_bytes"), ==,
                     16.0 * 1024 * 1024 * 1024);
  g_assert_cmpfloat (series_value (text, "samepage_decision{action=\"run\"}"), ==, 1);
  g_assert_cmpfloat (series_value (text, "samepage_decision{action=\"stop\"}"), ==, 0);
  g_assert_cmpfloat (series_value (text, "samepage_decision_timestamp_seconds"), ==, 1700000000.5);
  g_assert_cmpfloat (series_value (text, "samepage_decisions_total"), ==, 42);
  g_assert_cmpfloat (series_value (text, "samepage_domains_active"), ==, 1);
  /* labels escaped: backslash, quote, newline */
  g_assert_cmpfloat (series_value (text,
                                   "samepage_domain_merging_pages{domain=\"web \\\"1\\\"\\\\\\nx\","
                                   "uuid=\"11111111-1111-4111-8111-111111111111\"}"),
                     ==, 1234);
  g_assert_cmpfloat (series_value (text, "samepage_domain_mergeable{domain=\"off\","
                                         "uuid=\"66666666-6666-4666-8666-666666666666\"}"),
                     ==, 0);
  /* merging pages only for running domains */
  g_assert_null (strstr (text, "samepage_domain_merging_pages{domain=\"off\""));
  /* absent kernel files give no series */
  g_assert_null (strstr (text, "samepage_ksm_pages_skipped_total"));
}

/* The balloon policy's targets: current and target of managed domains
 * only, the reclaimed total; no balloon decision, no balloon series. */
static void
test_metrics_balloon (void)
{
  g_autoptr (SpSnapshot) s = make_snapshot ();
  g_autofree char *without = sp_metrics_format (s);
  g_autofree char *text = NULL;
  SpBalloonTarget *managed = g_new0 (SpBalloonTarget, 1);
  SpBalloonTarget *alone = g_new0 (SpBalloonTarget, 1);

  g_assert_null (strstr (without, "balloon"));
  s->balloon = sp_balloon_decision_new ();
  s->balloon->pressure = TRUE;
  s->balloon->reclaimed_kib = 65536;
  managed->name = g_strdup ("g1");
  managed->uuid = g_strdup ("u1");
  managed->managed = TRUE;
  managed->current_kib = 262144;
  managed->target_kib = 235930;
  alone->name = g_strdup ("g2");
  alone->uuid = g_strdup ("u2");
  alone->current_kib = 262144;
  alone->target_kib = 262144;
  g_ptr_array_add (s->balloon->targets, managed);
  g_ptr_array_add (s->balloon->targets, alone);
  text = sp_metrics_format (s);

  assert_exposition_format (text);
  g_assert_cmpfloat (series_value (text, "samepage_balloon_reclaimed_bytes"), ==, 65536.0 * 1024);
  g_assert_cmpfloat (series_value (text, "samepage_balloon_pressure"), ==, 1);
  g_assert_cmpfloat (
      series_value (text, "samepage_domain_balloon_current_bytes{domain=\"g1\",uuid=\"u1\"}"), ==,
      262144.0 * 1024);
  g_assert_cmpfloat (
      series_value (text, "samepage_domain_balloon_target_bytes{domain=\"g1\",uuid=\"u1\"}"), ==,
      235930.0 * 1024);
  g_assert_null (strstr (text, "domain=\"g2\""));
}

/* What KSM costs: known values only; the saving counts zero pages. */
static void
test_metrics_cost (void)
{
  g_autoptr (SpSnapshot) s = make_snapshot ();
  g_autofree char *without = sp_metrics_format (s);
  g_autofree char *text = NULL;
  double page = (double) sp_page_size_bytes ();

  g_assert_null (strstr (without, "samepage_ksmd_"));
  g_assert_null (strstr (without, "samepage_ksm_profit_ratio"));
  sp_test_ksm_set (&s->ksm, SP_KSM_KSM_ZERO_PAGES, 28);
  s->cost.cpu_seconds = 12.5;
  s->cost.cpu_percent = 4;
  s->cost.full_scan_seconds = 3;
  s->cost.saved_kib_per_cpu_second = 2048;
  s->cost.profit_ratio = 80;
  text = sp_metrics_format (s);

  assert_exposition_format (text);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_saved_bytes"), ==, 128 * page);
  g_assert_cmpfloat (series_value (text, "samepage_ksmd_cpu_seconds_total"), ==, 12.5);
  g_assert_cmpfloat (series_value (text, "samepage_ksmd_cpu_ratio"), ==, 0.04);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_full_scan_seconds"), ==, 3);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_saved_bytes_per_cpu_second"), ==,
                     2048.0 * 1024);
  g_assert_cmpfloat (series_value (text, "samepage_ksm_profit_ratio"), ==, 80);
}

static void
test_metrics_write_atomic (void)
{
  g_autoptr (SpSnapshot) s = make_snapshot ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = sp_test_make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "samepage.prom", NULL);
  g_autofree char *expected = sp_metrics_format (s);
  g_autofree char *contents = NULL;
  g_autofree char *missing = g_build_filename (dir, "no", "such", "dir.prom", NULL);
  GDir *d;

  g_assert_true (g_file_set_contents (path, "old", -1, NULL));
  g_assert_true (sp_metrics_write (s, path, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, expected);

  /* no temporary file left behind */
  d = g_dir_open (dir, 0, NULL);
  g_assert_cmpstr (g_dir_read_name (d), ==, "samepage.prom");
  g_assert_null (g_dir_read_name (d));
  g_dir_close (d);

  g_assert_false (sp_metrics_write (s, missing, &error));
  g_assert_nonnull (strstr (error->message, "Cannot write metrics"));
  sp_test_remove_tree (dir);
}

static void
test_notify (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = sp_test_make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "notify", NULL);
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GSocketAddress) address = NULL;
  char buffer[256] = { 0 };
  gssize n;

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, 0, &error);
  g_assert_no_error (error);
  address = g_unix_socket_address_new (path);
  g_assert_true (g_socket_bind (socket, address, TRUE, &error));

  /* nobody to tell: not an error */
  g_unsetenv ("NOTIFY_SOCKET");
  g_assert_true (sp_notify ("READY=1", &error));

  g_setenv ("NOTIFY_SOCKET", path, TRUE);
  g_assert_true (sp_notify ("READY=1\nSTATUS=run: boost", &error));
  g_assert_no_error (error);
  n = g_socket_receive (socket, buffer, sizeof (buffer) - 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, strlen ("READY=1\nSTATUS=run: boost"));
  g_assert_cmpstr (buffer, ==, "READY=1\nSTATUS=run: boost");

  g_setenv ("NOTIFY_SOCKET", "relative/path", TRUE);
  g_assert_false (sp_notify ("READY=1", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_unsetenv ("NOTIFY_SOCKET");

  sp_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/format", test_metrics_format);
  g_test_add_func ("/metrics/write-atomic", test_metrics_write_atomic);
  g_test_add_func ("/metrics/balloon", test_metrics_balloon);
  g_test_add_func ("/metrics/cost", test_metrics_cost);
  g_test_add_func ("/notify/datagram", test_notify);
  return g_test_run ();
}
