/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reader and writer of the KSM sysfs directory (<sysfs-root>/kernel/mm/ksm).
 * Files a kernel does not have are "not supported", never errors.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  SP_KSM_RUN,
  SP_KSM_PAGES_TO_SCAN,
  SP_KSM_SLEEP_MILLISECS,
  SP_KSM_PAGES_SHARED,
  SP_KSM_PAGES_SHARING,
  SP_KSM_PAGES_UNSHARED,
  SP_KSM_PAGES_VOLATILE,
  SP_KSM_FULL_SCANS,
  SP_KSM_PAGES_SCANNED,
  SP_KSM_PAGES_SKIPPED,
  SP_KSM_GENERAL_PROFIT, /* signed */
  SP_KSM_KSM_ZERO_PAGES,
  SP_KSM_MAX_PAGE_SHARING,
  SP_KSM_MERGE_ACROSS_NODES,
  SP_KSM_USE_ZERO_PAGES,
  SP_KSM_SMART_SCAN,
  SP_KSM_STABLE_NODE_CHAINS,
  SP_KSM_STABLE_NODE_DUPS,
  SP_KSM_ADVISOR_MODE, /* value is an SpKsmAdvisorMode */
  SP_KSM_ADVISOR_TARGET_SCAN_TIME,
  SP_KSM_ADVISOR_MAX_CPU,
  SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN,
  SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN,
  SP_KSM_N_FIELDS,
} SpKsmField;

typedef enum {
  SP_KSM_ADVISOR_NONE,
  SP_KSM_ADVISOR_SCAN_TIME,
} SpKsmAdvisorMode;

/* values of the run file */
#define SP_KSM_RUN_STOP 0
#define SP_KSM_RUN_MERGE 1
#define SP_KSM_RUN_UNMERGE 2

typedef struct {
  gboolean available; /* the ksm directory exists */
  guint64 present;    /* bit (1 << field) set when the kernel has the file */
  guint64 unknown;    /* bit (1 << field) set when the file holds a value this version does
                       * not know (an advisor mode added later): not in present */
  gint64 values[SP_KSM_N_FIELDS];
} SpKsmState;

/* The sysfs file name of a field ("pages_to_scan"). */
const char *sp_ksm_field_name (SpKsmField field);
gboolean sp_ksm_field_from_name (const char *name, SpKsmField *out);
/* TRUE for the tunables samepaged may write. */
gboolean sp_ksm_field_is_knob (SpKsmField field);

const char *sp_ksm_advisor_mode_to_string (SpKsmAdvisorMode mode);
/* Parses "none", "scan-time" and the sysfs form "[none] scan-time". */
gboolean sp_ksm_advisor_mode_parse (const char *str, SpKsmAdvisorMode *out);
/* TRUE for a well-formed mode list whose selected mode this version does
 * not know ("none scan-time [cpu-percent]"). */
gboolean sp_ksm_advisor_mode_is_unknown (const char *str);

static inline gboolean
sp_ksm_state_has (const SpKsmState *state, SpKsmField field)
{
  return state->available && (state->present & (G_GUINT64_CONSTANT (1) << field)) != 0;
}

static inline gint64
sp_ksm_state_get (const SpKsmState *state, SpKsmField field)
{
  return sp_ksm_state_has (state, field) ? state->values[field] : 0;
}

/* TRUE when this kernel has the KSM advisor (Linux 6.8+). */
gboolean sp_ksm_state_has_advisor (const SpKsmState *state);

/* Memory saved by merging: (pages_sharing + ksm_zero_pages) x page size, in
 * KiB (empty pages merged with the zero page, use_zero_pages, count too). */
guint64 sp_ksm_state_saved_kib (const SpKsmState *state);

/* Path of the KSM directory under a sysfs root. */
char *sp_ksm_dir (const char *sysfs_root);

/*
 * Reads every KSM file that exists. A missing directory is not an error:
 * state->available is FALSE. An advisor_mode that selects a mode this
 * version does not know marks that field unknown (not present). Any other
 * file with content that is not what the kernel writes is an error naming
 * the path and the content.
 */
gboolean sp_ksm_read (const char *sysfs_root, SpKsmState *state, GError **error);

/*
 * Writes one knob. advisor_mode takes an SpKsmAdvisorMode. The error names
 * the path and errno (EINVAL, EBUSY, EACCES...).
 */
gboolean sp_ksm_write (const char *sysfs_root, SpKsmField field, gint64 value, GError **error);

/*
 * For tests on a fake tree: the kernel's part of a write. hook runs before
 * each sp_ksm_write() of a valid value (in the writing thread), may apply
 * side effects to other files (advisor_mode resets pages_to_scan) and may
 * refuse the write (FALSE with error set: EBUSY, EINVAL). NULL: none.
 */
typedef gboolean (*SpKsmWriteHook) (const char *sysfs_root, SpKsmField field, gint64 value,
                                    gpointer user_data, GError **error);
void sp_ksm_set_write_hook (SpKsmWriteHook hook, gpointer user_data);

G_END_DECLS
