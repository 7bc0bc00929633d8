/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Enums shared by samepaged and ksmctl, with their string forms. */
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
} SpFreeSource;

/* What a decision does to KSM. */
typedef enum {
  SP_ACTION_NONE, /* no decision yet / KSM unavailable */
  SP_ACTION_STOP, /* run=0 */
  SP_ACTION_RUN,  /* run=1 with the computed rate */
} SpAction;

const char *sp_mode_to_string (SpMode mode);
gboolean sp_mode_from_string (const char *str, SpMode *out);
const char *sp_scan_rate_to_string (SpScanRate rate);
gboolean sp_scan_rate_from_string (const char *str, SpScanRate *out);
const char *sp_free_source_to_string (SpFreeSource source);
gboolean sp_free_source_from_string (const char *str, SpFreeSource *out);
const char *sp_action_to_string (SpAction action);
gboolean sp_action_from_string (const char *str, SpAction *out);

G_END_DECLS
