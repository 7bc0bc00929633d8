/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Enums shared by samepaged and ksmctl, with their string forms. The string
 * of a value is its GEnum nick (sp-enum-types.h, made by glib-mkenums from
 * this file): the text of the config file, D-Bus and ksmctl.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How samepaged drives KSM. */
typedef enum {
  SP_MODE_AUTO,   /* the tuning policy decides */
  SP_MODE_ALWAYS, /* KSM always runs (ksmctl start) */
  SP_MODE_NEVER,  /* KSM is stopped (ksmctl stop) */
} SpMode;

/* How the scan rate is steered. */
typedef enum {
  SP_SCAN_RATE_AUTO,    /* advisor when the kernel has it, else classic */
  SP_SCAN_RATE_ADVISOR, /* advisor_mode=scan-time, never pages_to_scan */
  SP_SCAN_RATE_CLASSIC, /* ksmtuned's pages_to_scan boost/decay */
} SpScanRate;

/* What the policy counts as free memory. */
typedef enum {
  SP_FREE_SOURCE_AVAILABLE, /* MemAvailable */
  SP_FREE_SOURCE_KSMTUNED,  /* MemFree + Buffers + Cached, like ksmtuned */
  /* MemAvailable + the ZFS ARC's shrinkable part (size - c_min) */
  SP_FREE_SOURCE_AVAILABLE_ARC, /*< nick=available+arc >*/
} SpFreeSource;

/* What a decision does to KSM. */
typedef enum {
  SP_ACTION_NONE, /* no decision yet / KSM unavailable */
  SP_ACTION_STOP, /* run=0 */
  SP_ACTION_RUN,  /* run=1 with the computed rate */
} SpAction;

/* A process's ksm_mergeable / ksm_merge_any in /proc/<pid>/ksm_stat. */
typedef enum {
  SP_KSM_MERGEABLE_UNKNOWN = -1, /* the kernel does not say (before 6.14) */
  SP_KSM_MERGEABLE_NO = 0,
  SP_KSM_MERGEABLE_YES = 1,
} SpKsmMergeable;

/* Whether samepaged moves guest balloons ([balloon] balloon). */
typedef enum {
  SP_BALLOON_MODE_OFF,  /* never sets a balloon */
  SP_BALLOON_MODE_AUTO, /* the balloon policy sets managed guests' balloons */
} SpBalloonMode;

/* What the balloon policy decided for one domain. */
typedef enum {
  SP_BALLOON_ACTION_NONE,   /* not managed (off, opted out, no balloon...): never touched */
  SP_BALLOON_ACTION_HOLD,   /* managed, left where it is */
  SP_BALLOON_ACTION_SHRINK, /* inflate the balloon: the guest gives memory back */
  SP_BALLOON_ACTION_GROW,   /* deflate the balloon towards <currentMemory> */
} SpBalloonAction;

const char *sp_mode_to_string (SpMode mode);
gboolean sp_mode_from_string (const char *str, SpMode *out);
const char *sp_scan_rate_to_string (SpScanRate rate);
gboolean sp_scan_rate_from_string (const char *str, SpScanRate *out);
const char *sp_free_source_to_string (SpFreeSource source);
gboolean sp_free_source_from_string (const char *str, SpFreeSource *out);
const char *sp_action_to_string (SpAction action);
gboolean sp_action_from_string (const char *str, SpAction *out);
const char *sp_ksm_mergeable_to_string (SpKsmMergeable mergeable);
gboolean sp_ksm_mergeable_from_string (const char *str, SpKsmMergeable *out);

const char *sp_balloon_mode_to_string (SpBalloonMode mode);
gboolean sp_balloon_mode_from_string (const char *str, SpBalloonMode *out);
const char *sp_balloon_action_to_string (SpBalloonAction action);
gboolean sp_balloon_action_from_string (const char *str, SpBalloonAction *out);

G_END_DECLS
