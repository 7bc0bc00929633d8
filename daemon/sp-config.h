/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * samepaged configuration: /etc/samepage/samepaged.conf (GKeyFile), with an
 * import of ksmtuned's /etc/ksmtuned.conf (parsed, never sourced).
 *
 * Precedence: built-in defaults (equal to ksmtuned's) < ksmtuned.conf <
 * samepaged.conf < command line.
 */
#pragma once

#include <gio/gio.h>

#include "sp-enums.h"

G_BEGIN_DECLS

/* The groups of samepaged.conf (and of overrides.conf). */
#define SP_CONFIG_GROUP_DAEMON "daemon"
#define SP_CONFIG_GROUP_TUNING "tuning"

typedef struct {
  /* [daemon] */
  SpMode mode;
  guint monitor_interval_sec;
  gboolean restore_on_exit; /* put back the knobs found at start */
  char *connect_uri;        /* libvirt URI; NULL: qemu:///system, else embedded */
  char *metrics_textfile;   /* NULL: none */

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
} SpConfig;

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

/*
 * Imports ksmtuned.conf over config: KEY=value lines, comments and blank
 * lines; never sourced. Unknown keys and bad values are reported through
 * warnings (file:line: message, one per string, appended to *warnings if
 * non-NULL) and keep the previous value. A missing file is not an error.
 */
gboolean sp_config_import_ksmtuned (SpConfig *config, const char *path, GPtrArray *warnings,
                                    GError **error);

/*
 * Sets one tuning key (a [tuning] key or monitor_interval) from a string (as
 * in the config file) or a GVariant (D-Bus SetTuning: integer keys take
 * int32, int64, uint32 or uint64, the others a string). SP_ERROR_INVALID_ARGS
 * errors name key, value and allowed range; on error config is unchanged.
 * Relations between keys are left to sp_config_validate().
 */
gboolean sp_config_set_from_string (SpConfig *config, const char *key, const char *value,
                                    GError **error);
gboolean sp_config_set_from_variant (SpConfig *config, const char *key, GVariant *value,
                                     GError **error);

/*
 * The [tuning] keys and monitor_interval as a floating a{sv} (for D-Bus):
 * integers as int64, the others as strings.
 */
GVariant *sp_config_tuning_to_variant (const SpConfig *config);

/* The config as GKeyFile text (documented defaults; used for --print-config). */
char *sp_config_to_data (const SpConfig *config);

G_END_DECLS
