/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What KSM costs and what it returns: ksmd's CPU from /proc/<ksmd pid>/stat
 * (the kernel thread is found once by name), and from the KSM sysfs files
 * the saving (pages_sharing + ksm_zero_pages), general_profit, the profit
 * ratio and the duration of a full scan. SpKsmdCostMeter keeps what it
 * needs across decision windows; each window gives one SpKsmCost, which the
 * snapshot holds (SpSnapshot.cost) and the profit guard of the KSM policy
 * reads.
 *
 * The profit ratio is the kernel documentation's ksm_rmap_items /
 * ksm_merging_pages for the whole system: the rmap items (each
 * SP_KSM_RMAP_ITEM_BYTES of metadata) per saved page, derived from
 * general_profit = saved pages x page size - rmap items x rmap item size.
 * Above page size / rmap item size (64 with 4 KiB pages on 64-bit) merging
 * costs more memory than it saves.
 */
#pragma once

#include <gio/gio.h>

#include "sp-ksm.h"

G_BEGIN_DECLS

/* sizeof (struct ksm_rmap_item): 64 bytes on 64-bit kernels, 32 on 32-bit */
#define SP_KSM_RMAP_ITEM_BYTES (GLIB_SIZEOF_VOID_P == 8 ? 64 : 32)

/* PF_KTHREAD in the flags field of /proc/<pid>/stat */
#define SP_PROC_PF_KTHREAD 0x00200000

/* The fields of /proc/<pid>/stat samepaged uses. */
typedef struct {
  char comm[64]; /* between the first '(' and the last ')', truncated */
  gint64 ppid;
  guint64 flags;
  guint64 utime_ticks;
  guint64 stime_ticks;
} SpProcPidStat;

/*
 * Parses the text of /proc/<pid>/stat: "pid (comm) state ppid ...". comm
 * may hold spaces and parentheses, so the fields are counted from the last
 * ')'. Anything else is a G_IO_ERROR_INVALID_DATA naming the problem; stat
 * is then untouched.
 */
gboolean sp_proc_pid_stat_parse (const char *contents, SpProcPidStat *stat, GError **error);

/* TRUE for a kernel thread: a child of kthreadd (pid 2) or PF_KTHREAD. */
gboolean sp_proc_pid_stat_is_kernel_thread (const SpProcPidStat *stat);

/* The pid of the kernel thread called ksmd under procfs_root, or -1. */
gint64 sp_ksmd_find_pid (const char *procfs_root);

/* One decision window's cost and profit; -1 where unknown. */
typedef struct {
  gint64 time_us;                  /* monotonic time of the sample (0: none) */
  gint64 ksmd_pid;                 /* -1: not found */
  double cpu_percent;              /* ksmd's CPU in the last window, % of one core */
  double cpu_seconds;              /* ksmd's CPU time since boot (utime + stime) */
  guint64 saved_kib;               /* (pages_sharing + ksm_zero_pages) x page size */
  gint64 zero_pages;               /* ksm_zero_pages; -1: the kernel has no such file */
  gboolean has_general_profit;     /* the kernel has general_profit (6.4+) */
  gint64 general_profit;           /* bytes, may be negative */
  double profit_ratio;             /* rmap items per saved page (see above) */
  gint64 full_scans;               /* -1: no such file */
  double full_scan_seconds;        /* the last full scans, measured across windows */
  double cpu_seconds_per_scan;     /* ksmd's CPU per full scan, likewise */
  double saved_kib_per_cpu_second; /* saved_kib / cpu_seconds_per_scan */
} SpKsmCost;

/* Every field unknown. */
void sp_ksm_cost_init (SpKsmCost *cost);

/* The parts of cost that come from the KSM files alone: saved_kib,
 * zero_pages, general_profit, profit_ratio, full_scans. */
void sp_ksm_cost_from_state (const SpKsmState *ksm, guint64 page_kib, SpKsmCost *cost);

/* One line for the debug log: "ksmd 4.0 % of a core, full scan 1.2 s at
 * 0.05 CPU-s, saved 590.0 MiB, 150.0 MiB per CPU-second, general profit
 * 580.1 MiB, profit ratio 0.4" (unknown parts say so). */
char *sp_ksm_cost_describe (const SpKsmCost *cost);

/* The break-even profit ratio: page size / rmap item size. */
double sp_ksm_cost_break_even_ratio (guint64 page_kib);

typedef struct {
  gint64 pid; /* 0: not looked for yet, -1: not found */
  /* the last window's end */
  gboolean have_last;
  gint64 last_time_us;
  guint64 last_ticks;
  double cpu_percent;
  /* the last time full_scans was seen to move (or KSM was seen running) */
  gboolean have_mark;
  gboolean mark_at_increment; /* the mark is right after an increment */
  gint64 mark_time_us;
  guint64 mark_ticks;
  gint64 mark_scans;
  double full_scan_seconds;
  double cpu_seconds_per_scan;
} SpKsmdCostMeter;

void sp_ksmd_cost_meter_init (SpKsmdCostMeter *meter);

/*
 * Ends a decision window at now_us (monotonic): reads ksmd's stat under
 * procfs_root (finding its pid the first time, and again when it is gone)
 * and fills cost from it and ksm. A window shorter than a second keeps the
 * last window's cpu_percent. ticks_per_second is sysconf (_SC_CLK_TCK).
 */
void sp_ksmd_cost_meter_sample (SpKsmdCostMeter *meter, const char *procfs_root,
                                const SpKsmState *ksm, gint64 now_us, guint64 ticks_per_second,
                                guint64 page_kib, SpKsmCost *cost);

G_END_DECLS
