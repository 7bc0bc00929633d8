/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * samepaged configuration: SpConfig, its key tables with defaults and ranges,
 * validation, and loading /etc/samepage/samepaged.conf (GKeyFile).
 *
 * Precedence: built-in defaults (equal to ksmtuned's) < ksmtuned.conf <
 * samepaged.conf < command line.
 *
 * Built on the key tables, each in its own file:
 *   sp-ksmtuned-import.h  the /etc/ksmtuned.conf import (parsed, never sourced)
 *   sp-config-variant.h   the tuning keys as D-Bus sets them (SetTuning) and reads them
 *   sp-config-doc.h       the config as documented GKeyFile text
 * The first two are included below, so that callers of their sp_config_*
 * functions need only this header.
 */
#pragma once

#include <gio/gio.h>

#include "sp-enums.h"
#include "sp-psi-trigger.h"

G_BEGIN_DECLS

/* The groups of samepaged.conf (and of overrides.conf). */
#define SP_CONFIG_GROUP_DAEMON "daemon"
#define SP_CONFIG_GROUP_TUNING "tuning"
#define SP_CONFIG_GROUP_BALLOON "balloon"

typedef struct _SpConfig SpConfig;

struct _SpConfig {
  /* [daemon] */
  SpMode mode;
  guint monitor_interval_sec;
  guint resync_interval_sec; /* every domain queried again from libvirt */
  gboolean restore_on_exit;  /* put back the knobs found at start */
  char *connect_uri;         /* libvirt URI; NULL: qemu:///system, else embedded */
  char *metrics_textfile;    /* NULL: none */

  /* [tuning] */
  gint64 npages_boost;
  gint64 npages_decay;
  gint64 npages_min;
  gint64 npages_max;
  gint64 sleep_msec;
  gint64 thres_coef; /* percent of MemTotal */
  gint64 thres_const_kib;
  gint64 hysteresis_pct; /* percent of the threshold */
  SpScanRate scan_rate;
  SpFreeSource free_source;
  gint64 advisor_max_cpu_min;   /* advisor_max_cpu when relaxed */
  gint64 advisor_max_cpu_max;   /* advisor_max_cpu under full pressure */
  gint64 advisor_scan_time_min; /* advisor_target_scan_time under pressure, s */
  gint64 advisor_scan_time_max; /* advisor_target_scan_time when relaxed, s */
  gint64 merge_across_nodes;    /* -1: as found; 0 or 1: written after an unmerge */
  SpPsiSpec pressure_trigger;   /* the PSI trigger on /proc/pressure/memory (sp-psi-trigger.h) */
  gint64 use_zero_pages;        /* -1: as found; 0 or 1: written while samepaged runs */
  /* the profit guard (sp-profit-guard.h) */
  gboolean profit_guard;
  gboolean profit_guard_unmerge;     /* stop with run=2 instead of run=0 */
  gint64 profit_min_scans;           /* full scans before judging, and at the lowest rate */
  gint64 profit_min_kib_per_cpu_s;   /* saved KiB per CPU-second of a full scan */
  gint64 profit_retry_interval_sec;  /* a stopped KSM is tried again after this */
  gint64 profit_retry_committed_pct; /* or when committed changes by more than this % */

  /* [balloon] (sp-balloon-policy.h) */
  SpBalloonMode balloon;
  gint64 balloon_threshold_pct;    /* pressure: MemAvailable below this % of MemTotal */
  gint64 balloon_critical_pct;     /* critical pressure: below this % */
  gint64 guest_free_pct;           /* a shrunk guest keeps this % of its memory free */
  gint64 max_step_pct;             /* of <memory>, per decision */
  gint64 critical_step_pct;        /* of <memory>, per decision under critical pressure */
  gint64 balloon_min_pct;          /* default floor: % of <memory> */
  gint64 balloon_shares;           /* default weight */
  gint64 balloon_stats_period_sec; /* set on managed guests whose period is 0 */
  gint64 balloon_timeout_sec;      /* a target not reached by then is left alone */
};

/* One integer tuning key: its name, where it lives, and its allowed range. */
typedef struct {
  const char *group;
  const char *key;
  gsize offset; /* of a gint64 (or a guint, see size) in SpConfig */
  gint64 min;
  gint64 max;
  const char *ksmtuned_name; /* KSM_* in ksmtuned.conf, or NULL */
  const char *unit;          /* for messages/docs: "s", "pages", "%", "KiB", "ms" */
  gint64 default_value;      /* ksmtuned's, where ksmtuned has the key */
  const char *description;   /* one line, for docs and --print-config */
  gsize size;                /* of the field: sizeof (gint64), or sizeof (guint) for
                              * monitor_interval_sec */
} SpConfigIntKey;

/* The table of integer keys (terminated by key == NULL). */
const SpConfigIntKey *sp_config_int_keys (void);

/* The integer key called key ("npages_max"), or NULL. */
const SpConfigIntKey *sp_config_find_int_key (const char *key);

/* The value of an integer key in config. */
gint64 sp_config_get_int (const SpConfig *config, const SpConfigIntKey *key);

/* Sets an integer key; value is in the key's range (or at least fits its field). */
void sp_config_set_int (SpConfig *config, const SpConfigIntKey *key, gint64 value);

/*
 * Parses a decimal integer (spaces around it allowed) in the key's range;
 * else *problem says why, as in "'abc' is not an integer" (what follows
 * "key = " in a message).
 */
gboolean sp_config_int_key_parse (const SpConfigIntKey *key, const char *value, gint64 *out,
                                  char **problem);

/* The key's range for messages: "1..100000 pages", "0..100%". */
char *sp_config_int_key_range (const SpConfigIntKey *key);

/* The key whose value this one must not exceed (npages_max for npages_min),
 * or NULL. sp_config_validate() checks these pairs. */
const SpConfigIntKey *sp_config_int_key_upper (const SpConfigIntKey *key);

/* One key that is not an integer (an enum, a boolean, a URI, a path): a
 * string in the file and over D-Bus. */
typedef struct {
  const char *group;
  const char *key;
  guint id;                /* which field: private to sp-config.c */
  const char *description; /* one line, for docs */
} SpConfigStringKey;

/* The table of string keys (terminated by key == NULL). */
const SpConfigStringKey *sp_config_string_keys (void);

/* The string key called key ("scan_rate"), or NULL. */
const SpConfigStringKey *sp_config_find_string_key (const char *key);

/* The value in config file syntax, unescaped; NULL when unset. */
char *sp_config_get_string (const SpConfig *config, const SpConfigStringKey *key);

/*
 * Sets the key from its config file form; else *problem says why, as in
 * "'fast' is not one of auto|advisor|classic", and config is unchanged.
 */
gboolean sp_config_set_string (SpConfig *config, const SpConfigStringKey *key, const char *value,
                               char **problem);

/*
 * Sets one key, int_key or string_key (the other NULL), from its config
 * file form; else *problem says why and config is unchanged.
 */
gboolean sp_config_set_key (SpConfig *config, const SpConfigIntKey *int_key,
                            const SpConfigStringKey *string_key, const char *value, char **problem);

/* What the key takes: "one of auto|always|never", "an absolute path"... */
char *sp_config_string_key_allowed (const SpConfigStringKey *key);

/* The groups of samepaged.conf, in file order (terminated by NULL). */
const char *const *sp_config_groups (void);

SpConfig *sp_config_new_default (void);
SpConfig *sp_config_copy (const SpConfig *config);
void sp_config_free (SpConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpConfig, sp_config_free)

gboolean sp_config_equal (const SpConfig *a, const SpConfig *b);

/*
 * Checks the relations between keys (npages_min <= npages_max...), and again
 * the range of every key, for fields written directly. SP_ERROR_CONFIG.
 */
gboolean sp_config_validate (const SpConfig *config, GError **error);

/*
 * Loads samepaged.conf over config. A missing file is an error only when
 * must_exist is set. Wrong types, out-of-range values and unknown keys are
 * SP_ERROR_CONFIG errors naming the file, key, value and allowed range; on
 * error config is unchanged.
 */
gboolean sp_config_load_file (SpConfig *config, const char *path, gboolean must_exist,
                              GError **error);

G_END_DECLS
