/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Memory pressure from the kernel (PSI, Documentation/accounting/psi.rst):
 * a trigger registered on <procfs>/pressure/memory wakes samepaged (POLLPRI)
 * as soon as tasks stalled on memory for stall µs within a window of window
 * µs, instead of at the next read of /proc/meminfo.
 *
 * SpPsiSpec is the config's [tuning] pressure_trigger ("some 150000
 * 1000000", "full 500000 2000000" or "off"); SpPsiStat the text of the
 * pressure file; SpPsiTrigger the registered trigger and its fd watch,
 * which emits "pressure" with a description of the event, at most once per
 * hold-off (the kernel fires at most once per window).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The kernel's limits of a trigger window. */
#define SP_PSI_WINDOW_MIN_US G_GINT64_CONSTANT (500000)
#define SP_PSI_WINDOW_MAX_US G_GINT64_CONSTANT (10000000)
/* Unprivileged triggers (no CAP_SYS_RESOURCE): windows in multiples of this. */
#define SP_PSI_UNPRIVILEGED_WINDOW_US G_GINT64_CONSTANT (2000000)
/* The default pressure_trigger: 15 % of a second stalled. */
#define SP_PSI_DEFAULT_TRIGGER "some 150000 1000000"
/* Least time between two "pressure" emissions. */
#define SP_PSI_HOLDOFF_MS 5000

typedef struct {
  gboolean enabled; /* FALSE: "off" */
  gboolean full;    /* "full" (all tasks stalled) instead of "some" */
  gint64 stall_us;  /* 1..window_us */
  gint64 window_us; /* SP_PSI_WINDOW_MIN_US..SP_PSI_WINDOW_MAX_US */
} SpPsiSpec;

/*
 * Parses "some|full <stall µs> <window µs>" or "off" (spaces around and
 * between allowed); else *problem says why (what follows "key = " in a
 * message) and out is unchanged.
 */
gboolean sp_psi_spec_parse (const char *text, SpPsiSpec *out, char **problem);
/* "some 150000 1000000", or "off". */
char *sp_psi_spec_to_string (const SpPsiSpec *spec);
gboolean sp_psi_spec_equal (const SpPsiSpec *a, const SpPsiSpec *b);

typedef struct {
  gboolean present; /* the line was there */
  double avg10;     /* percent of the last 10 s */
  double avg60;
  double avg300;
  guint64 total_us; /* stalled time since boot */
} SpPsiLine;

typedef struct {
  SpPsiLine some;
  SpPsiLine full; /* absent on old kernels' cpu file; memory has it */
} SpPsiStat;

/*
 * Parses the text of a pressure file ("some avg10=0.00 avg60=0.00
 * avg300=0.00 total=0" and a "full" line). The some line is required;
 * lines of other kinds and unknown key=value pairs are ignored; a known
 * key with a bad value, or twice, is G_IO_ERROR_INVALID_DATA and out is
 * unchanged.
 */
gboolean sp_psi_stat_parse (const char *contents, SpPsiStat *out, GError **error);

/* "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)"; stat may be NULL. */
char *sp_psi_describe (const SpPsiSpec *spec, const SpPsiStat *stat);

#define SP_TYPE_PSI_TRIGGER (sp_psi_trigger_get_type ())
G_DECLARE_FINAL_TYPE (SpPsiTrigger, sp_psi_trigger, SP, PSI_TRIGGER, GObject)

/* Nothing is registered until sp_psi_trigger_configure(). */
SpPsiTrigger *sp_psi_trigger_new (const char *procfs_root);

/*
 * Registers spec on <procfs_root>/pressure/memory (a disabled spec drops
 * the trigger); nothing happens when spec is what was configured last.
 * Where the kernel refuses a window that is not a multiple of 2 s (an
 * unprivileged trigger), the window is rounded up and the stall scaled
 * (some 150000 1000000 → some 300000 2000000). Where triggers cannot be
 * registered (no file, EPERM, EINVAL...), an info line says why, once per
 * configuration, and samepaged goes on without (the 5 s meminfo watch).
 *
 * The fd is watched for G_IO_PRI; a file that is not a regular file (a
 * FIFO standing in for the kernel's file in tests) for G_IO_IN.
 * On an event the pressure file's text is read through the same fd (pread
 * at 0; read on a FIFO) to describe it; on a FIFO, a text that is not
 * pressure text (the trigger itself) is no event.
 */
void sp_psi_trigger_configure (SpPsiTrigger *self, const SpPsiSpec *spec);

/* The trigger registered ("some 300000 2000000"), NULL when none. */
const char *sp_psi_trigger_get_active (SpPsiTrigger *self);
/* The description of the last event, NULL before the first. */
const char *sp_psi_trigger_get_last (SpPsiTrigger *self);
/* The last event's description when it is less than within_us old, else NULL. */
const char *sp_psi_trigger_get_recent (SpPsiTrigger *self, gint64 within_us);
/* g_get_monotonic_time() of the last event, 0 before the first. */
gint64 sp_psi_trigger_get_last_time (SpPsiTrigger *self);
/* Events seen, and "pressure" signals emitted (fewer: the hold-off). */
guint64 sp_psi_trigger_get_n_events (SpPsiTrigger *self);
guint64 sp_psi_trigger_get_n_emitted (SpPsiTrigger *self);
/* The least time between two emissions (default SP_PSI_HOLDOFF_MS). */
void sp_psi_trigger_set_holdoff_ms (SpPsiTrigger *self, guint holdoff_ms);

G_END_DECLS
