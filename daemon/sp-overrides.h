/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpOverrides: the runtime changes (the D-Bus setters SetTuning and SetMode:
 * ksmctl set, mode, start, stop) and their persistence. A change is checked
 * as a whole, written atomically to <state-dir>/overrides.conf, and only
 * then applied to the tuner (which retunes), so it survives a restart. The
 * file is a GKeyFile with the groups and keys of samepaged.conf, holding only
 * the keys changed at run time; it is loaded over samepaged.conf at start
 * and on SIGHUP:
 *
 *   defaults < ksmtuned.conf < samepaged.conf < overrides.conf < command line
 *
 * A bad overrides file is logged and ignored (samepaged.conf applies alone);
 * the next accepted change replaces it. To drop every runtime change, delete
 * the file and send SIGHUP.
 */
#pragma once

#include <gio/gio.h>

#include "sp-config.h"
#include "sp-tuner.h"

G_BEGIN_DECLS

/* Where samepaged keeps state across restarts (the runtime overrides). */
#define SP_DEFAULT_STATE_DIR "/var/lib/samepage"
#define SP_OVERRIDES_FILE "overrides.conf"

#define SP_TYPE_OVERRIDES (sp_overrides_get_type ())
G_DECLARE_FINAL_TYPE (SpOverrides, sp_overrides, SP, OVERRIDES, GObject)

/* The overrides kept in state_dir (NULL: SP_DEFAULT_STATE_DIR). */
SpOverrides *sp_overrides_new (const char *state_dir);

/* --dry-run: runtime changes are checked, answered and applied to the
 * running tuner, but overrides.conf is not written (nor the state directory
 * created): they last until SIGHUP or exit. */
void sp_overrides_set_dry_run (SpOverrides *self, gboolean dry_run);

/* <state-dir>/overrides.conf */
const char *sp_overrides_get_path (SpOverrides *self);

/*
 * At start and on SIGHUP: base (already validated) with overrides.conf over
 * it. A missing file leaves base as it is; a bad one (syntax, unknown key,
 * out of range, broken relation) is logged and ignored. What was loaded is
 * what the next change starts from.
 */
SpConfig *sp_overrides_load (SpOverrides *self, const SpConfig *base);

/* The tuner changes go to (its config is the config in effect). */
void sp_overrides_set_tuner (SpOverrides *self, SpTuner *tuner);

/*
 * Runtime changes (a set tuner is required). The whole change is checked
 * first: one unknown key, wrong type, value out of range or broken relation
 * (npages_min > npages_max) rejects it with SP_ERROR_INVALID_ARGS and nothing
 * changes. It is then saved to overrides.conf, and only then applied (a
 * retune follows). check_tuning only checks. An empty settings dict changes
 * nothing.
 */
gboolean sp_overrides_check_tuning (SpOverrides *self, GVariant *settings, GError **error);
gboolean sp_overrides_set_tuning (SpOverrides *self, GVariant *settings, GError **error);
gboolean sp_overrides_set_mode (SpOverrides *self, SpMode mode, GError **error);

G_END_DECLS
