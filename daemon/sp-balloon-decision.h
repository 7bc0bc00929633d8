/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The balloon policy's decision (sp-balloon-policy.h): one target per
 * running domain, each with a reason. */
#pragma once

#include <glib.h>

#include "sp-enums.h"

G_BEGIN_DECLS

/* One running domain's balloon target. */
typedef struct {
  char *name;
  char *uuid;
  SpBalloonAction action;
  gboolean managed;
  guint64 current_kib;    /* balloon.current */
  guint64 target_kib;     /* where the balloon should be; current_kib when not moving */
  guint64 min_kib;        /* its min: metadata, else min_percent of <memory> */
  guint64 floor_kib;      /* max (min, used + guest_free_percent): never shrunk below */
  guint64 shares;         /* metadata, else [balloon] shares */
  guint64 guest_free_kib; /* free as the guest reports it; 0 when unknown */
  gboolean stats_ok;      /* fresh guest statistics */
  char *reason;
  /* written by the actuator into the snapshot it applies */
  gboolean timed_out; /* the target was not reached within target_timeout */
} SpBalloonTarget;

typedef struct {
  SpBalloonMode mode;
  gboolean pressure;
  gboolean critical;
  guint64 available_kib;
  guint64 threshold_kib;
  guint64 critical_kib;
  guint n_managed;
  guint64 reclaimed_kib; /* Σ of managed guests' <currentMemory> less balloon.current */
  char *reason;          /* the host's state, for logs and ksmctl monitor */
  GPtrArray *targets;    /* SpBalloonTarget*, by domain name, running domains only */
} SpBalloonDecision;

void sp_balloon_target_free (SpBalloonTarget *target);
void sp_balloon_decision_free (SpBalloonDecision *decision);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpBalloonDecision, sp_balloon_decision_free)

/* The target of the domain with this UUID, or NULL. */
const SpBalloonTarget *sp_balloon_decision_find (const SpBalloonDecision *decision,
                                                 const char *uuid);

SpBalloonDecision *sp_balloon_decision_new (void);

G_END_DECLS
