/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What KSM costs: /proc/<pid>/stat parsing, finding ksmd in a fake procfs,
 * ksmd's CPU per window, full-scan timing and the profit ratio. */
#define G_LOG_DOMAIN "test-ksmd-cost"

#include "sp-ksmd-cost.h"
#include "sp-test.h"

#define SEC G_USEC_PER_SEC

/* A /proc/<pid>/stat line of a kernel thread like ksmd (Linux 6.18). */
static char *
stat_line (gint64 pid, const char *comm, gint64 ppid, guint64 flags, guint64 utime, guint64 stime)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT " (%s) S %" G_GINT64_FORMAT
                          " 0 0 0 -1 %" G_GUINT64_FORMAT " 3 0 0 0 %" G_GUINT64_FORMAT
                          " %" G_GUINT64_FORMAT
                          " 0 0 25 5 1 0 27 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 "
                          "0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
                          pid, comm, ppid, flags, utime, stime);
}

static void
test_stat_parse (void)
{
  g_autofree char *ksmd = stat_line (37, "ksmd", 2, 2097216, 1298, 17);
  SpProcPidStat stat;
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_proc_pid_stat_parse (ksmd, &stat, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (stat.comm, ==, "ksmd");
  g_assert_cmpint (stat.ppid, ==, 2);
  g_assert_cmpuint (stat.flags, ==, 2097216);
  g_assert_cmpuint (stat.utime_ticks, ==, 1298);
  g_assert_cmpuint (stat.stime_ticks, ==, 17);
  g_assert_true (sp_proc_pid_stat_is_kernel_thread (&stat));
}

/* comm may hold spaces and ')': the fields start after the last ')'. */
static void
test_stat_parse_hostile_comm (void)
{
  g_autofree char *evil =
      stat_line (4242, "a) S 2 0 0 0 -1 2097216 0 0 0 0 999 999 (x", 1000, 0, 5, 6);
  SpProcPidStat stat;

  g_assert_true (sp_proc_pid_stat_parse (evil, &stat, NULL));
  g_assert_cmpstr (stat.comm, ==, "a) S 2 0 0 0 -1 2097216 0 0 0 0 999 999 (x");
  g_assert_cmpint (stat.ppid, ==, 1000);
  g_assert_cmpuint (stat.utime_ticks, ==, 5);
  g_assert_cmpuint (stat.stime_ticks, ==, 6);
  g_assert_false (sp_proc_pid_stat_is_kernel_thread (&stat));
}

static void
test_stat_parse_bad (void)
{
  const char *bad[] = {
    "",
    "37 ksmd S 2",
    "(ksmd) S 2 0 0 0 -1 0 0 0 0 0 1 2",
    "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 1",    /* no stime */
    "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 x 2",  /* utime not a number */
    "37 (ksmd) S -2 0 0 0 -1 0 0 0 0 0 1 2", /* negative ppid */
    "37 (ksmd) SS 2 0 0 0 -1 0 0 0 0 0 1 2", /* state */
    "37 )ksmd( S 2 0 0 0 -1 0 0 0 0 0 1 2",  /* ')' before '(' */
    "37 (ksmd) S 2 0 0 0 -1 0 0 0 0 0 18446744073709551615 2",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      SpProcPidStat stat;

      memset (&stat, 0x5a, sizeof (stat));
      g_assert_false (sp_proc_pid_stat_parse (bad[i], &stat, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_cmpuint (stat.utime_ticks, ==, 0x5a5a5a5a5a5a5a5a);
    }
}

typedef struct {
  char *proc;
} Proc;

static void
proc_set_stat (Proc *p, gint64 pid, const char *comm, gint64 ppid, guint64 utime, guint64 stime)
{
  g_autofree char *relative = g_strdup_printf ("%" G_GINT64_FORMAT "/stat", pid);
  g_autofree char *line = stat_line (pid, comm, ppid, ppid == 2 ? 2097216 : 4194560, utime, stime);

  sp_test_write_in (p->proc, relative, line, -1);
}

static void
proc_setup (Proc *p, gconstpointer data)
{
  p->proc = sp_test_make_tmp_dir ();
  sp_test_write_in (p->proc, "meminfo", "MemTotal: 1 kB\n", -1);
  proc_set_stat (p, 1, "systemd", 0, 100, 100);
  /* a user process named ksmd is not the kernel thread */
  proc_set_stat (p, 900, "ksmd", 1, 0, 0);
  proc_set_stat (p, 37, "ksmd", 2, 1000, 0);
  proc_set_stat (p, 38, "khugepaged", 2, 5, 5);
  sp_test_write_in (p->proc, "self/stat", "garbage", -1);
}

static void
proc_teardown (Proc *p, gconstpointer data)
{
  sp_test_remove_tree (p->proc);
  g_free (p->proc);
}

static void
test_find_pid (Proc *p, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (p->proc, "nothing", NULL);

  g_assert_cmpint (sp_ksmd_find_pid (p->proc), ==, 37);
  g_assert_cmpint (sp_ksmd_find_pid (missing), ==, -1);
}

static void
ksm_running (SpKsmState *ksm, gint64 run, gint64 full_scans, gint64 sharing)
{
  memset (ksm, 0, sizeof (*ksm));
  ksm->available = TRUE;
  sp_test_ksm_set (ksm, SP_KSM_RUN, run);
  sp_test_ksm_set (ksm, SP_KSM_FULL_SCANS, full_scans);
  sp_test_ksm_set (ksm, SP_KSM_PAGES_SHARING, sharing);
}

/* Windows of 10 s with ksmd at 25 % of a core, a full scan every 4 s. */
static void
test_meter (Proc *p, gconstpointer data)
{
  SpKsmdCostMeter meter;
  SpKsmCost cost;
  SpKsmState ksm;
  gint64 t = 1000 * SEC;

  sp_ksmd_cost_meter_init (&meter);
  ksm_running (&ksm, 1, 10, 25600); /* 100 MiB saved */
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t, 100, 4, &cost);
  g_assert_cmpint (cost.ksmd_pid, ==, 37);
  g_assert_cmpfloat (cost.cpu_seconds, ==, 10.0);
  /* the first window has no start */
  g_assert_cmpfloat (cost.cpu_percent, ==, -1);
  g_assert_cmpfloat (cost.full_scan_seconds, ==, -1);
  g_assert_cmpfloat (cost.saved_kib_per_cpu_second, ==, -1);
  g_assert_cmpuint (cost.saved_kib, ==, 102400);

  /* 10 s later: 250 ticks more, 2 scans more; the first mark was mid-scan */
  proc_set_stat (p, 37, "ksmd", 2, 1100, 150);
  ksm_running (&ksm, 1, 12, 25600);
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t + 10 * SEC, 100, 4, &cost);
  g_assert_cmpfloat_with_epsilon (cost.cpu_percent, 25.0, 1e-9);
  g_assert_cmpfloat (cost.full_scan_seconds, ==, -1);

  /* a window under a second keeps the last percentage */
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t + 10 * SEC + 1000, 100, 4, &cost);
  g_assert_cmpfloat_with_epsilon (cost.cpu_percent, 25.0, 1e-9);

  /* 8 s and 2 more scans at 25 %: 4 s and 1 CPU-second per scan */
  proc_set_stat (p, 37, "ksmd", 2, 1200, 250);
  ksm_running (&ksm, 1, 14, 25600);
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t + 18 * SEC, 100, 4, &cost);
  g_assert_cmpfloat_with_epsilon (cost.cpu_percent, 25.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (cost.full_scan_seconds, 4.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (cost.cpu_seconds_per_scan, 1.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (cost.saved_kib_per_cpu_second, 102400.0, 1e-6);
  {
    g_autofree char *line = sp_ksm_cost_describe (&cost);
    g_assert_cmpstr (line, ==,
                     "ksmd 25.0 % of a core, full scan 4.0 s at 1.00 CPU-s, saved 100.0 MiB, "
                     "100.0 MiB per CPU-second");
  }

  /* KSM stopped: no CPU, the last scan timing kept */
  ksm_running (&ksm, 0, 14, 25600);
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t + 28 * SEC, 100, 4, &cost);
  g_assert_cmpfloat (cost.cpu_percent, ==, 0);
  g_assert_cmpfloat_with_epsilon (cost.full_scan_seconds, 4.0, 1e-9);

  /* ksmd gone and a user process took its pid: found again, or unknown */
  proc_set_stat (p, 37, "ksmd", 1, 0, 0);
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t + 38 * SEC, 100, 4, &cost);
  g_assert_cmpint (cost.ksmd_pid, ==, -1);
  g_assert_cmpfloat (cost.cpu_seconds, ==, -1);
  proc_set_stat (p, 4000, "ksmd", 2, 7, 0);
  sp_ksmd_cost_meter_sample (&meter, p->proc, &ksm, t + 48 * SEC, 100, 4, &cost);
  g_assert_cmpint (cost.ksmd_pid, ==, 4000);
  g_assert_cmpfloat (cost.cpu_seconds, ==, 0.07);
}

/* This machine's ksmd, where the kernel has KSM. */
static void
test_real_proc (void)
{
  SpKsmdCostMeter meter;
  SpKsmState ksm = { 0 };
  SpKsmCost cost;

  if (!g_file_test ("/sys/kernel/mm/ksm/run", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("this kernel has no KSM");
      return;
    }
  ksm.available = TRUE;
  sp_ksmd_cost_meter_init (&meter);
  sp_ksmd_cost_meter_sample (&meter, "/proc", &ksm, 1, 100, 4, &cost);
  g_assert_cmpint (cost.ksmd_pid, >, 2);
  g_assert_cmpint (cost.ksmd_pid, ==, sp_ksmd_find_pid ("/proc"));
  g_assert_cmpfloat (cost.cpu_seconds, >=, 0);
}

/* The kernel's general_profit = saved x page size - rmap_items x 64. */
static void
test_profit_ratio (void)
{
  SpKsmState ksm = { 0 };
  SpKsmCost cost;

  ksm.available = TRUE;
  sp_ksm_cost_init (&cost);
  sp_ksm_cost_from_state (&ksm, 4, &cost);
  g_assert_false (cost.has_general_profit);
  g_assert_cmpfloat (cost.profit_ratio, ==, -1);
  g_assert_cmpint (cost.zero_pages, ==, -1);

  /* 1000 pages sharing + 24 zero pages, 10240 rmap items: ratio 10 */
  sp_test_ksm_set (&ksm, SP_KSM_PAGES_SHARING, 1000);
  sp_test_ksm_set (&ksm, SP_KSM_KSM_ZERO_PAGES, 24);
  sp_test_ksm_set (&ksm, SP_KSM_GENERAL_PROFIT, 1024 * 4096 - 10240 * 64);
  sp_ksm_cost_from_state (&ksm, 4, &cost);
  g_assert_cmpuint (cost.saved_kib, ==, 1024 * 4);
  g_assert_cmpint (cost.zero_pages, ==, 24);
  g_assert_cmpfloat_with_epsilon (cost.profit_ratio, 10.0, 1e-9);

  /* at the break-even ratio the profit is 0 */
  sp_test_ksm_set (&ksm, SP_KSM_GENERAL_PROFIT, 0);
  sp_ksm_cost_from_state (&ksm, 4, &cost);
  g_assert_cmpfloat_with_epsilon (cost.profit_ratio, sp_ksm_cost_break_even_ratio (4), 1e-9);
  g_assert_cmpfloat (sp_ksm_cost_break_even_ratio (4), ==, 4096.0 / SP_KSM_RMAP_ITEM_BYTES);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ksmd-cost/stat-parse", test_stat_parse);
  g_test_add_func ("/ksmd-cost/stat-parse-hostile-comm", test_stat_parse_hostile_comm);
  g_test_add_func ("/ksmd-cost/stat-parse-bad", test_stat_parse_bad);
  g_test_add ("/ksmd-cost/find-pid", Proc, NULL, proc_setup, test_find_pid, proc_teardown);
  g_test_add ("/ksmd-cost/meter", Proc, NULL, proc_setup, test_meter, proc_teardown);
  g_test_add_func ("/ksmd-cost/profit-ratio", test_profit_ratio);
  g_test_add_func ("/ksmd-cost/real-proc", test_real_proc);
  return g_test_run ();
}
