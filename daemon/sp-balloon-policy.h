/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon policy: a pure function from one snapshot (host memory, the
 * guests with their balloon facts, the config, the previous decision and
 * the time of the snapshot) to one target per running domain, each with a
 * reason. No I/O, no clock, no globals: the tests drive it with tables.
 * SpBalloonPolicy runs it as the tuner's SpPolicy (sp-policy.h); the
 * balloon actuator (sp-balloon-actuator.h) applies the targets.
 *
 * Host pressure: MemAvailable below balloon_threshold % of MemTotal
 * (critical below balloon_critical %). A domain is managed in balloon=auto
 * when it runs, has a virtio memballoon, did not opt out and libvirt gives
 * balloon.current. Its floor is
 *     floor = max (min, used * 100 / (100 - guest_free_percent))
 * (the guest keeps guest_free_percent of its new size free), where used is
 * what the guest reports it uses (balloon.available less balloon.usable, or
 * less balloon.unused); min is its metadata min, else min_percent of
 * <memory>.
 * - Pressure: guests with more free memory than guest_free_percent of it
 *   shrink, the largest (current - floor) / shares first, by at most
 *   max_step_percent (critical: critical_step_percent) of <memory> each,
 *   never below the floor, until the shrink covers what the host lacks.
 * - No pressure: shrunk guests grow back towards <currentMemory> of their
 *   persistent XML by the same step, the most shares first, as long as the
 *   host stays above the threshold after it.
 * - A guest whose statistics are missing or stale (older than 3 stats
 *   periods) is never shrunk (it may grow back); the reason says why.
 * - A move in progress (the previous target, same direction, not reached)
 *   is kept, not stepped further; a target the actuator reported as not
 *   reached in time is left alone until the pressure state changes.
 */
#pragma once

#include <glib-object.h>

#include "sp-balloon-decision.h"
#include "sp-config.h"
#include "sp-domain.h"
#include "sp-enums.h"
#include "sp-meminfo.h"
#include "sp-snapshot.h"
#include "sp-policy.h"

G_BEGIN_DECLS

typedef struct {
  const SpConfig *config;
  SpMeminfo mem;
  const SpGuests *guests;            /* NULL: none known */
  gint64 now_sec;                    /* wall clock of the snapshot */
  const SpBalloonDecision *previous; /* NULL at start */
} SpBalloonPolicyInput;

SpBalloonDecision *sp_balloon_policy_decide (const SpBalloonPolicyInput *input);

/* The floor, min and shares of one domain as the policy computes them. */
guint64 sp_balloon_policy_min_kib (const SpConfig *config, const SpDomainInfo *info);
guint64 sp_balloon_policy_shares (const SpConfig *config, const SpDomainInfo *info);

#define SP_TYPE_BALLOON_POLICY (sp_balloon_policy_get_type ())
G_DECLARE_FINAL_TYPE (SpBalloonPolicy, sp_balloon_policy, SP, BALLOON_POLICY, GObject)

/* Decides next->balloon; urgent when the host enters or leaves pressure. */
SpPolicy *sp_balloon_policy_new (void);

G_END_DECLS
