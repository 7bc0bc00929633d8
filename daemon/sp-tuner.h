/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpTuner runs the data flow of samepaged:
 *   inputs (KSM sysfs, /proc/meminfo, guests) → snapshot → policies → actuators
 * on a periodic tick (the safety net) and on demand (events, D-Bus), and
 * emits "tuned" with each new snapshot (which D-Bus and metrics read).
 * Policies and actuators are parts behind a seam (sp-policy.h, where a pass
 * is described step by step); the KSM ones are added by sp_tuner_new().
 * merge_across_nodes (a config key) is applied at start and when the config
 * changes, by an unmerge (sp_tuner_unmerge_async()).
 */
#pragma once

#include <glib-object.h>

#include "sp-actuator.h"
#include "sp-config.h"
#include "sp-domain.h"
#include "sp-ksm-actuator.h"
#include "sp-policy.h"
#include "sp-psi-trigger.h"
#include "sp-snapshot.h"

G_BEGIN_DECLS

/* Seconds between two reads of /proc/meminfo by the pressure watch, which
 * retunes between ticks when KSM should start or stop (where a PSI trigger
 * is registered, it wakes the tuner sooner; the watch goes on). */
#define SP_TUNER_WATCH_INTERVAL_S 5

#define SP_TYPE_TUNER (sp_tuner_get_type ())
G_DECLARE_FINAL_TYPE (SpTuner, sp_tuner, SP, TUNER, GObject)

SpTuner *sp_tuner_new (const SpConfig *config, const char *sysfs_root, const char *procfs_root,
                       gboolean dry_run);

/*
 * Adds a part: policies decide in the order added, actuators apply in the
 * order added and restore in reverse. Before sp_tuner_start().
 */
void sp_tuner_add_policy (SpTuner *self, SpPolicy *policy);
void sp_tuner_add_actuator (SpTuner *self, SpActuator *actuator);

/* Runs the first decision now and arms the periodic tick. */
void sp_tuner_start (SpTuner *self);

/* Replaces the config (already validated), re-arms the tick, retunes. */
void sp_tuner_set_config (SpTuner *self, const SpConfig *config);
const SpConfig *sp_tuner_get_config (SpTuner *self);

/* The guest-memory input (from libvirt). Does not retune by itself. */
void sp_tuner_set_guests (SpTuner *self, SpGuests *guests);

/* Decides and applies now. */
void sp_tuner_retune (SpTuner *self);

/* A retune someone asked for (Retune over D-Bus): emits
 * "retune-requested" (the daemon resyncs the domain list then), then
 * retunes now. */
void sp_tuner_request_retune (SpTuner *self);

/* One retune after delay_ms; calls while one is pending are folded in. */
void sp_tuner_queue_retune (SpTuner *self, guint delay_ms);

/* The last snapshot (never NULL after start). */
SpSnapshot *sp_tuner_get_snapshot (SpTuner *self);

/* Number of decisions made so far. */
guint64 sp_tuner_get_n_decisions (SpTuner *self);

/* Puts back the knobs samepaged changed (when restore_on_exit is set):
 * every actuator restores, the first error is returned. Each is given
 * SP_TUNER_RESTORE_TIMEOUT_S (sp_actuator_restore_within()): one waiting on
 * a libvirtd that answers nothing neither keeps samepaged from exiting nor
 * the others from restoring. With restore_on_exit=false every actuator
 * leaves them, and says so. Not while the main loop runs. */
#define SP_TUNER_RESTORE_TIMEOUT_S 10
gboolean sp_tuner_restore (SpTuner *self, GError **error);

/* Another limit for each actuator's restore (tests). */
void sp_tuner_set_restore_timeout (SpTuner *self, guint timeout_ms);

/* Where the KSM actuator keeps the knobs found at start
 * (<state_dir>/ksm-originals, see sp-ksm-actuator.h). Before start. */
void sp_tuner_set_state_dir (SpTuner *self, const char *state_dir);

SpKsmActuator *sp_tuner_get_ksm_actuator (SpTuner *self);

/*
 * The memory pressure trigger ([tuning] pressure_trigger, registered at
 * start and when the config changes). Each event it emits retunes at once;
 * until monitor_interval after the last event every decision gets it as
 * its pressure input (the KSM policy: run at the top rate), and the
 * snapshot shows it (pressure, pressure_trigger, pressure_last).
 */
SpPsiTrigger *sp_tuner_get_psi_trigger (SpTuner *self);

/*
 * Unmerging every merged page (sp-ksm-unmerge.h), for Unmerge
 * (merge_across_nodes -1) and for changing merge_across_nodes (0 or 1).
 * check reads KSM and /proc/meminfo now: SP_ERROR_NOT_SUPPORTED when
 * merge_across_nodes is asked on a kernel without it, SP_ERROR_FAILED when
 * MemAvailable cannot absorb the unmerge plus the threshold; *needed (may
 * be NULL) is FALSE when merge_across_nodes already has the value. The
 * async call checks again, unmerges (a dry run only logs), then retunes.
 */
gboolean sp_tuner_check_unmerge (SpTuner *self, gint64 merge_across_nodes, gboolean *needed,
                                 GError **error);
void sp_tuner_unmerge_async (SpTuner *self, gint64 merge_across_nodes, GAsyncReadyCallback callback,
                             gpointer user_data);
gboolean sp_tuner_unmerge_finish (SpTuner *self, GAsyncResult *result, GError **error);

G_END_DECLS
