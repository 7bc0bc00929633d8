/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The methods of org.samepage1.Manager: what each one checks (before anybody
 * is asked for a password) and what it does once the caller is authorized,
 * on the objects it goes to: SetTuning and SetMode to SpOverrides (a
 * SetTuning of merge_across_nodes unmerges through SpTuner first), Retune
 * and Unmerge to SpTuner (Unmerge sets mode never through SpOverrides
 * first), SetMemMerge to SpMemMerge. Who may call them is SpAuthority's
 * table; calling them over D-Bus is SpDbusService's job.
 */
#pragma once

#include <gio/gio.h>

#include "sp-balloon-settings.h"
#include "sp-mem-merge.h"
#include "sp-overrides.h"
#include "sp-tuner.h"

G_BEGIN_DECLS

/* What the methods act on (not referenced here). */
typedef struct {
  SpTuner *tuner;
  SpOverrides *overrides;
  SpMemMerge *mem_merge;               /* NULL: SetMemMerge answers NotSupported */
  SpBalloonSettings *balloon_settings; /* NULL: SetBalloon answers NotSupported */
} SpDbusTargets;

typedef struct {
  const char *name;
  /* Rejects bad arguments (an SP_ERROR); NULL: the method takes none. */
  gboolean (*check) (const SpDbusTargets *targets, GVariant *parameters, GError **error);
  /* Does it, completing task with TRUE or an error, now or later (keeping a
   * reference to task). caller: "uid 0 (:1.42)". */
  void (*run) (const SpDbusTargets *targets, GVariant *parameters, const char *caller, GTask *task);
} SpDbusMethod;

/* The method of org.samepage1.Manager called name, or NULL. */
const SpDbusMethod *sp_dbus_manager_lookup_method (const char *name);

G_END_DECLS
