/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl: what the subcommands share (bus access, errors, output helpers). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "sp-io.h"
#include "sp-str.h"

G_BEGIN_DECLS

/* Exit codes, documented in ksmctl --help and ksmctl(1). */
typedef enum {
  KSMCTL_EXIT_OK = 0,
  KSMCTL_EXIT_FAILURE = 1, /* samepaged refused or failed */
  KSMCTL_EXIT_USAGE = 2,   /* bad command line */
  KSMCTL_EXIT_DENIED = 3,  /* not authorised (polkit or bus policy) */
  KSMCTL_EXIT_ABSENT = 4,  /* no system bus, or samepaged not on it */
} KsmctlExit;

typedef struct {
  GDBusConnection *bus; /* connected on first use */
  gboolean json;        /* --json */
  gboolean interactive; /* stdin is a tty: allow interactive polkit authorisation */
} Ksmctl;

/* A subcommand: argv holds only its positional arguments (argv[0] is the name). */
typedef gboolean (*KsmctlCommandFunc) (Ksmctl *ctl, int argc, char **argv, GError **error);

/* ksmctl.c: bus access */
GDBusConnection *ksmctl_get_bus (Ksmctl *ctl, GError **error);
GVariant *ksmctl_call (Ksmctl *ctl, const char *path, const char *interface, const char *method,
                       GVariant *parameters, const char *reply_type, GError **error);
GVariant *ksmctl_call_setter (Ksmctl *ctl, const char *method, GVariant *parameters,
                              GError **error);
GVariant *ksmctl_get_manager_properties (Ksmctl *ctl, GError **error);
GVariant *ksmctl_get_manager_property (Ksmctl *ctl, const char *name, GError **error);

/* ksmctl.c: reading a{sv} dictionaries whatever integer type the daemon used */
const char *ksmctl_dict_string (GVariant *dict, const char *key);
gboolean ksmctl_dict_boolean (GVariant *dict, const char *key);
gint64 ksmctl_dict_int (GVariant *dict, const char *key);
gboolean ksmctl_variant_is_integer (GVariant *value);
gint64 ksmctl_variant_get_int (GVariant *value);

/* ksmctl.c: output */
char *ksmctl_format_time_local (gint64 time_us);
char *ksmctl_format_time_iso8601 (gint64 time_us);
const char *ksmctl_arrow (void);
void ksmctl_json_add_dict_member (JsonBuilder *builder, const char *member, GVariant *dict,
                                  const char *key);
void ksmctl_json_add_value_member (JsonBuilder *builder, const char *member, GVariant *value);
void ksmctl_json_add_decision (JsonBuilder *builder, const char *action, const char *reason,
                               gint64 time_us);
void ksmctl_print_json (JsonNode *root, gboolean pretty);
gboolean ksmctl_usage_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* ksmctl-effect.c: when a change of a domain's persistent config takes effect. */
typedef enum {
  KSMCTL_EFFECT_UNKNOWN,    /* the domain could not be read back */
  KSMCTL_EFFECT_NOW,        /* running, and its running config already says so */
  KSMCTL_EFFECT_NEXT_START, /* running with the other setting: waits for a cold start */
  KSMCTL_EFFECT_AT_START,   /* shut off: the next start uses it */
} KsmctlEffect;

/* Adds the members "takes_effect" ("unknown", "now", "next-start",
 * "at-start") and "state" (found as in ksmctl domains --json, or null). */
void ksmctl_json_add_effect (JsonBuilder *builder, KsmctlEffect effect, GVariant *found);
/* The domain's (oa{sv}) and its properties after a change; on failure a
 * warning (the change is made) and FALSE, *found and *props NULL or set. */
gboolean ksmctl_read_back (Ksmctl *ctl, const char *domain, GVariant **found, GVariant **props);
/* From the Domain properties: Active, running_key (the running config's
 * boolean) against wanted, and pending_key (may be NULL) set. */
KsmctlEffect ksmctl_effect_of (GVariant *props, const char *pending_key, const char *running_key,
                               gboolean wanted);
/* "g1: memory merging on, in effect now" and the like; what names the setting. */
void ksmctl_print_effect (GVariant *props, const char *name_or_uuid, const char *what,
                          gboolean wanted, KsmctlEffect effect);
/* Prints a flat a{sv} (floating is fine) as a pretty JSON object, in its order. */
void ksmctl_print_json_vardict (GVariant *vardict);

/* ksmctl-domains.c: the Domain objects as (oa{sv}) variants (path, properties), sorted by
 * name; find by name or UUID */
GPtrArray *ksmctl_get_domains (Ksmctl *ctl, GError **error);
GVariant *ksmctl_find_domain (GPtrArray *domains, const char *name_or_uuid);
void ksmctl_json_add_domain (JsonBuilder *builder, GVariant *domain);
/* ksmctl-domains.c: a domain's balloon move, "256.0 MiB→230.4 MiB" (CurrentKiB to
 * BalloonTargetKiB, joined by arrow); NULL unless BalloonState is shrink, grow or timed-out
 * with a target other than the current size */
char *ksmctl_balloon_move (GVariant *props, const char *arrow);

/* The subcommands */
gboolean ksmctl_cmd_status (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_domains (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_set (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_mode (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_start (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_stop (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_retune (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_unmerge (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_merge (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_balloon (Ksmctl *ctl, int argc, char **argv, GError **error);
gboolean ksmctl_cmd_monitor (Ksmctl *ctl, int argc, char **argv, GError **error);

G_END_DECLS
