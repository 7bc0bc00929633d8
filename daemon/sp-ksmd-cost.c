/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-cost"

#include "sp-ksmd-cost.h"

#include <string.h>

#include "sp-io.h"
#include "sp-str.h"

/* fields after the last ')': state ppid pgrp session tty_nr tpgid flags
 * minflt cminflt majflt cmajflt utime stime */
#define FIELD_STATE 0
#define FIELD_PPID 1
#define FIELD_FLAGS 6
#define FIELD_UTIME 11
#define FIELD_STIME 12

static gboolean
stat_invalid (GError **error, const char *problem)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Unexpected /proc/<pid>/stat: %s",
               problem);
  return FALSE;
}

gboolean
sp_proc_pid_stat_parse (const char *contents, SpProcPidStat *stat, GError **error)
{
  g_autofree char *pid_part = NULL;
  g_auto (GStrv) words = NULL;
  SpProcPidStat result = { { 0 } };
  const char *open;
  const char *close;
  guint64 pid;
  guint n = 0;

  g_return_val_if_fail (stat != NULL, FALSE);

  if (contents == NULL)
    return stat_invalid (error, "empty");
  open = strchr (contents, '(');
  close = strrchr (contents, ')');
  if (open == NULL || close == NULL || close < open)
    return stat_invalid (error, "no “(comm)”");
  pid_part = g_strndup (contents, (gsize) (open - contents));
  if (!sp_parse_u64 (pid_part, &pid) || pid == 0)
    return stat_invalid (error, "no pid before “(comm)”");
  g_strlcpy (result.comm, open + 1, MIN (sizeof (result.comm), (gsize) (close - open - 1) + 1));

  words = g_strsplit_set (close + 1, " \n", -1);
  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *word = words[i];
      gboolean ok = TRUE;

      if (*word == '\0')
        continue;
      switch (n)
        {
        case FIELD_STATE:
          ok = word[1] == '\0' && g_ascii_isalpha (word[0]);
          break;
        case FIELD_PPID:
          ok = sp_parse_i64 (word, &result.ppid) && result.ppid >= 0;
          break;
        case FIELD_FLAGS:
          ok = sp_parse_u64 (word, &result.flags);
          break;
        case FIELD_UTIME:
          ok = sp_parse_u64 (word, &result.utime_ticks);
          break;
        case FIELD_STIME:
          ok = sp_parse_u64 (word, &result.stime_ticks);
          break;
        default:
          break;
        }
      if (!ok)
        {
          g_autofree char *escaped = g_strescape (word, NULL);
          g_autofree char *problem =
              g_strdup_printf ("field %u after “(comm)” is “%.32s”", n + 1, escaped);
          return stat_invalid (error, problem);
        }
      n++;
    }
  if (n <= FIELD_STIME)
    return stat_invalid (error, "too few fields");
  /* the two CPU times are added: keep their sum finite */
  if (result.utime_ticks > G_MAXUINT64 / 2 || result.stime_ticks > G_MAXUINT64 / 2)
    return stat_invalid (error, "CPU time out of range");
  *stat = result;
  return TRUE;
}

gboolean
sp_proc_pid_stat_is_kernel_thread (const SpProcPidStat *stat)
{
  return stat->ppid == 2 || (stat->flags & SP_PROC_PF_KTHREAD) != 0;
}

static gboolean
read_pid_stat (const char *procfs_root, gint64 pid, SpProcPidStat *stat, GError **error)
{
  g_autofree char *relative = g_strdup_printf ("%" G_GINT64_FORMAT "/stat", pid);
  g_autofree char *path = sp_path_join_root (procfs_root, relative);
  g_autofree char *contents = NULL;

  if (!sp_file_read_string (path, &contents, error))
    return FALSE;
  if (!sp_proc_pid_stat_parse (contents, stat, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

gint64
sp_ksmd_find_pid (const char *procfs_root)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  g_return_val_if_fail (procfs_root != NULL, -1);

  dir = g_dir_open (procfs_root, 0, NULL);
  if (dir == NULL)
    return -1;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      SpProcPidStat stat;
      guint64 pid;

      if (!g_ascii_isdigit (name[0]) || !sp_parse_u64 (name, &pid) || pid > G_MAXINT64)
        continue;
      /* a process may end while we read: skip it */
      if (!read_pid_stat (procfs_root, (gint64) pid, &stat, NULL))
        continue;
      if (g_str_equal (stat.comm, "ksmd") && sp_proc_pid_stat_is_kernel_thread (&stat))
        return (gint64) pid;
    }
  return -1;
}

void
sp_ksm_cost_init (SpKsmCost *cost)
{
  memset (cost, 0, sizeof (*cost));
  cost->ksmd_pid = -1;
  cost->cpu_percent = -1;
  cost->cpu_seconds = -1;
  cost->zero_pages = -1;
  cost->profit_ratio = -1;
  cost->full_scans = -1;
  cost->full_scan_seconds = -1;
  cost->cpu_seconds_per_scan = -1;
  cost->saved_kib_per_cpu_second = -1;
}

char *
sp_ksm_cost_describe (const SpKsmCost *cost)
{
  g_autoptr (GString) str = g_string_new (NULL);
  g_autofree char *saved = sp_format_kib ((gint64) MIN (cost->saved_kib, (guint64) G_MAXINT64));

  if (cost->cpu_percent >= 0)
    g_string_append_printf (str, "ksmd %.1f %% of a core", cost->cpu_percent);
  else
    g_string_append (str, "ksmd's CPU not measured yet");
  if (cost->full_scan_seconds >= 0)
    g_string_append_printf (str, ", full scan %.1f s at %.2f CPU-s", cost->full_scan_seconds,
                            cost->cpu_seconds_per_scan);
  g_string_append_printf (str, ", saved %s", saved);
  if (cost->saved_kib_per_cpu_second >= 0)
    {
      g_autofree char *rate = sp_format_kib ((gint64) MIN (cost->saved_kib_per_cpu_second, 1e18));
      g_string_append_printf (str, ", %s per CPU-second", rate);
    }
  if (cost->has_general_profit)
    {
      g_autofree char *profit = sp_format_kib (cost->general_profit / 1024);
      g_string_append_printf (str, ", general profit %s", profit);
    }
  if (cost->profit_ratio >= 0)
    g_string_append_printf (str, ", profit ratio %.1f", cost->profit_ratio);
  return g_string_free (g_steal_pointer (&str), FALSE);
}

double
sp_ksm_cost_break_even_ratio (guint64 page_kib)
{
  return (double) (page_kib != 0 ? page_kib : 4) * 1024.0 / SP_KSM_RMAP_ITEM_BYTES;
}

void
sp_ksm_cost_from_state (const SpKsmState *ksm, guint64 page_kib, SpKsmCost *cost)
{
  gint64 sharing = MAX (sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARING), 0);
  gint64 zero = MAX (sp_ksm_state_get (ksm, SP_KSM_KSM_ZERO_PAGES), 0);
  guint64 saved_pages = (guint64) sharing + (guint64) zero;

  if (page_kib == 0)
    page_kib = 4;
  cost->saved_kib = saved_pages * page_kib;
  cost->zero_pages = sp_ksm_state_has (ksm, SP_KSM_KSM_ZERO_PAGES) ? zero : -1;
  cost->full_scans =
      sp_ksm_state_has (ksm, SP_KSM_FULL_SCANS) ? sp_ksm_state_get (ksm, SP_KSM_FULL_SCANS) : -1;
  cost->has_general_profit = sp_ksm_state_has (ksm, SP_KSM_GENERAL_PROFIT);
  cost->general_profit = sp_ksm_state_get (ksm, SP_KSM_GENERAL_PROFIT);
  cost->profit_ratio = -1;
  if (cost->has_general_profit && saved_pages > 0)
    {
      /* general_profit = saved x page size - rmap_items x rmap item size */
      double rmap_items =
          ((double) saved_pages * (double) page_kib * 1024.0 - (double) cost->general_profit) /
          SP_KSM_RMAP_ITEM_BYTES;

      cost->profit_ratio = MAX (rmap_items, 0) / (double) saved_pages;
    }
}

void
sp_ksmd_cost_meter_init (SpKsmdCostMeter *meter)
{
  memset (meter, 0, sizeof (*meter));
  meter->cpu_percent = -1;
  meter->full_scan_seconds = -1;
  meter->cpu_seconds_per_scan = -1;
}

/* ksmd's utime + stime, finding its pid when needed; FALSE when unknown. */
static gboolean
read_ksmd_ticks (SpKsmdCostMeter *meter, const char *procfs_root, guint64 *ticks)
{
  SpProcPidStat stat;

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      if (meter->pid <= 0)
        {
          meter->pid = sp_ksmd_find_pid (procfs_root);
          if (meter->pid < 0)
            {
              g_debug ("No kernel thread called ksmd under %s", procfs_root);
              return FALSE;
            }
          g_debug ("ksmd is pid %" G_GINT64_FORMAT, meter->pid);
        }
      if (read_pid_stat (procfs_root, meter->pid, &stat, NULL) && g_str_equal (stat.comm, "ksmd") &&
          sp_proc_pid_stat_is_kernel_thread (&stat))
        {
          *ticks = stat.utime_ticks + stat.stime_ticks;
          return TRUE;
        }
      /* gone, or the pid now names something else: look again, once */
      meter->pid = 0;
      meter->have_last = FALSE;
      meter->have_mark = FALSE;
    }
  return FALSE;
}

static void
measure_scans (SpKsmdCostMeter *meter, const SpKsmState *ksm, gint64 now_us, guint64 ticks,
               guint64 ticks_per_second)
{
  gint64 scans = sp_ksm_state_get (ksm, SP_KSM_FULL_SCANS);

  /* scans are timed only while ksmd merges */
  if (!sp_ksm_state_has (ksm, SP_KSM_FULL_SCANS) ||
      sp_ksm_state_get (ksm, SP_KSM_RUN) != SP_KSM_RUN_MERGE ||
      (meter->have_mark && (scans < meter->mark_scans || ticks < meter->mark_ticks)))
    {
      meter->have_mark = FALSE;
      return;
    }
  if (meter->have_mark && scans == meter->mark_scans)
    return;
  if (meter->have_mark && meter->mark_at_increment)
    {
      double n = (double) (scans - meter->mark_scans);

      meter->full_scan_seconds = (double) (now_us - meter->mark_time_us) / G_USEC_PER_SEC / n;
      meter->cpu_seconds_per_scan =
          (double) (ticks - meter->mark_ticks) / (double) ticks_per_second / n;
    }
  /* the first mark falls somewhere in a scan: timing starts at the next increment */
  meter->mark_at_increment = meter->have_mark;
  meter->have_mark = TRUE;
  meter->mark_time_us = now_us;
  meter->mark_ticks = ticks;
  meter->mark_scans = scans;
}

void
sp_ksmd_cost_meter_sample (SpKsmdCostMeter *meter, const char *procfs_root, const SpKsmState *ksm,
                           gint64 now_us, guint64 ticks_per_second, guint64 page_kib,
                           SpKsmCost *cost)
{
  guint64 ticks = 0;

  g_return_if_fail (meter != NULL && procfs_root != NULL && ksm != NULL && cost != NULL);

  if (ticks_per_second == 0)
    ticks_per_second = 100;
  sp_ksm_cost_init (cost);
  cost->time_us = now_us;
  sp_ksm_cost_from_state (ksm, page_kib, cost);
  if (!ksm->available || !read_ksmd_ticks (meter, procfs_root, &ticks))
    return;

  cost->ksmd_pid = meter->pid;
  cost->cpu_seconds = (double) ticks / (double) ticks_per_second;
  if (!meter->have_last || ticks < meter->last_ticks || now_us < meter->last_time_us)
    {
      meter->have_last = TRUE;
      meter->last_time_us = now_us;
      meter->last_ticks = ticks;
    }
  else if (now_us - meter->last_time_us >= G_USEC_PER_SEC)
    {
      double seconds = (double) (now_us - meter->last_time_us) / G_USEC_PER_SEC;

      meter->cpu_percent =
          (double) (ticks - meter->last_ticks) / (double) ticks_per_second / seconds * 100.0;
      meter->last_time_us = now_us;
      meter->last_ticks = ticks;
    }
  measure_scans (meter, ksm, now_us, ticks, ticks_per_second);

  cost->cpu_percent = meter->cpu_percent;
  cost->full_scan_seconds = meter->full_scan_seconds;
  cost->cpu_seconds_per_scan = meter->cpu_seconds_per_scan;
  /* a scan too cheap to show in clock ticks leaves it unknown */
  if (meter->cpu_seconds_per_scan > 0)
    cost->saved_kib_per_cpu_second = (double) cost->saved_kib / meter->cpu_seconds_per_scan;
}
