/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl: the command-line client of samepaged (main, subcommand table, shared helpers). */
#define G_LOG_DOMAIN "ksmctl"

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ksmctl.h"
#include "sp-error.h"
#include "sp-names.h"

typedef struct {
  const char *name;
  KsmctlCommandFunc fn;
  const char *description;
  const char *arguments; /* for the usage line, NULL: none */
  int min_args;
  int max_args; /* -1: no limit */
} KsmctlCommand;

static const KsmctlCommand commands[] = {
  { "status", ksmctl_cmd_status, "Show KSM, memory, libvirt and why KSM is on or off", NULL, 0, 0 },
  { "domains", ksmctl_cmd_domains, "List libvirt domains and whether KSM can merge them", NULL, 0,
    0 },
  { "set", ksmctl_cmd_set, "Change tuning keys at run time, all in one call", "KEY=VALUE…", 1, -1 },
  { "mode", ksmctl_cmd_mode, "Set the mode: auto, always or never", "auto|always|never", 1, 1 },
  { "start", ksmctl_cmd_start, "Run KSM whatever the memory (mode always, as ksmtuned start)", NULL,
    0, 0 },
  { "stop", ksmctl_cmd_stop, "Stop KSM (mode never, as ksmtuned stop)", NULL, 0, 0 },
  { "retune", ksmctl_cmd_retune, "Decide and apply now, and show the decision", NULL, 0, 0 },
  { "unmerge", ksmctl_cmd_unmerge,
    "Split every merged page now (run=2), then mode never until changed", NULL, 0, 0 },
  { "merge", ksmctl_cmd_merge, "Let KSM merge a guest's memory (on) or not (off)", "DOMAIN on|off",
    2, 2 },
  { "balloon", ksmctl_cmd_balloon,
    "Set a guest's balloon floor, weight, opt-out (domain XML metadata) or free page reporting",
    "DOMAIN [min=SIZE] [shares=N] [on|off] [reporting on|off]", 2, -1 },
  { "monitor", ksmctl_cmd_monitor, "Print each decision as samepaged makes it, until Ctrl-C", NULL,
    0, 0 },
};

static const char exit_codes_help[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  samepaged refused the request or failed (the message says why)\n"
    "  2  usage error (unknown command or option, bad argument)\n"
    "  3  not authorised (polkit or the D-Bus policy said no)\n"
    "  4  samepaged is not running, or there is no system bus\n";

/* Errors of the command line are G_OPTION_ERROR (exit 2). */
gboolean
ksmctl_usage_error (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, message);
  return FALSE;
}

/* ---- bus access ---- */

GDBusConnection *
ksmctl_get_bus (Ksmctl *ctl, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (ctl->bus != NULL)
    return ctl->bus;
  ctl->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local_error);
  if (ctl->bus == NULL)
    {
      /* No bus means no samepaged: reported as daemon absent (exit 4). */
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_SERVER,
                   "cannot connect to the system bus: %s", local_error->message);
      return NULL;
    }
  return ctl->bus;
}

static GVariant *
call_full (Ksmctl *ctl, const char *path, const char *interface, const char *method,
           GVariant *parameters, const char *reply_type, GDBusCallFlags flags, int timeout_msec,
           GError **error)
{
  GDBusConnection *bus = ksmctl_get_bus (ctl, error);

  if (bus == NULL)
    {
      if (parameters != NULL)
        g_variant_unref (g_variant_ref_sink (parameters));
      return NULL;
    }
  return g_dbus_connection_call_sync (bus, SP_DBUS_NAME, path, interface, method, parameters,
                                      reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                      flags, timeout_msec, NULL, error);
}

GVariant *
ksmctl_call (Ksmctl *ctl, const char *path, const char *interface, const char *method,
             GVariant *parameters, const char *reply_type, GError **error)
{
  return call_full (ctl, path, interface, method, parameters, reply_type, G_DBUS_CALL_FLAGS_NONE,
                    -1, error);
}

/* A Manager method that changes something: polkit may ask for a password when stdin is a
 * tty, so the call then waits as long as the user needs. An unmerge (Unmerge, a SetTuning of
 * merge_across_nodes) may take samepaged up to 60 s. */
#define KSMCTL_SETTER_TIMEOUT_MS (90 * 1000)

GVariant *
ksmctl_call_setter (Ksmctl *ctl, const char *method, GVariant *parameters, GError **error)
{
  GDBusCallFlags flags = G_DBUS_CALL_FLAGS_NONE;
  int timeout_msec = KSMCTL_SETTER_TIMEOUT_MS;

  if (ctl->interactive)
    {
      flags |= G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;
      timeout_msec = G_MAXINT;
    }
  return call_full (ctl, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER, method, parameters, "()", flags,
                    timeout_msec, error);
}

GVariant *
ksmctl_get_manager_properties (Ksmctl *ctl, GError **error)
{
  g_autoptr (GVariant) reply = NULL;

  reply = ksmctl_call (ctl, SP_DBUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                       g_variant_new ("(s)", SP_DBUS_INTERFACE_MANAGER), "(a{sv})", error);
  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

GVariant *
ksmctl_get_manager_property (Ksmctl *ctl, const char *name, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = ksmctl_call (ctl, SP_DBUS_PATH, "org.freedesktop.DBus.Properties", "Get",
                       g_variant_new ("(ss)", SP_DBUS_INTERFACE_MANAGER, name), "(v)", error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(v)", &value);
  return value;
}

/* ---- a{sv} dictionaries ---- */

gboolean
ksmctl_variant_is_integer (GVariant *value)
{
  const GVariantType *type = g_variant_get_type (value);

  return g_variant_type_equal (type, G_VARIANT_TYPE_BYTE) ||
         g_variant_type_equal (type, G_VARIANT_TYPE_INT16) ||
         g_variant_type_equal (type, G_VARIANT_TYPE_UINT16) ||
         g_variant_type_equal (type, G_VARIANT_TYPE_INT32) ||
         g_variant_type_equal (type, G_VARIANT_TYPE_UINT32) ||
         g_variant_type_equal (type, G_VARIANT_TYPE_INT64) ||
         g_variant_type_equal (type, G_VARIANT_TYPE_UINT64);
}

gint64
ksmctl_variant_get_int (GVariant *value)
{
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BYTE:
      return g_variant_get_byte (value);
    case G_VARIANT_CLASS_INT16:
      return g_variant_get_int16 (value);
    case G_VARIANT_CLASS_UINT16:
      return g_variant_get_uint16 (value);
    case G_VARIANT_CLASS_INT32:
      return g_variant_get_int32 (value);
    case G_VARIANT_CLASS_UINT32:
      return g_variant_get_uint32 (value);
    case G_VARIANT_CLASS_INT64:
      return g_variant_get_int64 (value);
    case G_VARIANT_CLASS_UINT64:
      return (gint64) MIN (g_variant_get_uint64 (value), (guint64) G_MAXINT64);
    default:
      return 0;
    }
}

/* The string at key, NULL when missing or not a string. Owned by dict. */
const char *
ksmctl_dict_string (GVariant *dict, const char *key)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (dict, key, G_VARIANT_TYPE_STRING);

  /* value is a child of dict: its string lives as long as dict */
  return value != NULL ? g_variant_get_string (value, NULL) : NULL;
}

gboolean
ksmctl_dict_boolean (GVariant *dict, const char *key)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (dict, key, G_VARIANT_TYPE_BOOLEAN);

  return value != NULL && g_variant_get_boolean (value);
}

/* The integer at key, whatever its integer type; 0 when missing. */
gint64
ksmctl_dict_int (GVariant *dict, const char *key)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (dict, key, NULL);

  if (value == NULL || !ksmctl_variant_is_integer (value))
    return 0;
  return ksmctl_variant_get_int (value);
}

/* ---- output ---- */

static GDateTime *
date_time_from_us (gint64 time_us)
{
  g_autoptr (GDateTime) seconds = NULL;

  if (time_us <= 0)
    return NULL;
  seconds = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  if (seconds == NULL)
    return NULL;
  return g_date_time_add (seconds, time_us % G_USEC_PER_SEC);
}

/* "2025-11-23 10:11:12" in local time; NULL for 0 (no decision yet). */
char *
ksmctl_format_time_local (gint64 time_us)
{
  g_autoptr (GDateTime) utc = date_time_from_us (time_us);
  g_autoptr (GDateTime) local = NULL;

  if (utc == NULL)
    return NULL;
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

/* "→" where the locale's charset is UTF-8, else "->". */
const char *
ksmctl_arrow (void)
{
  return g_get_charset (NULL) ? "→" : "->";
}

/* "2025-11-23T09:11:12.345678Z"; NULL for 0. */
char *
ksmctl_format_time_iso8601 (gint64 time_us)
{
  g_autoptr (GDateTime) utc = date_time_from_us (time_us);

  return utc != NULL ? g_date_time_format_iso8601 (utc) : NULL;
}

/* member: the property key of dict as JSON, null when samepaged did not send it. */
void
ksmctl_json_add_dict_member (JsonBuilder *builder, const char *member, GVariant *dict,
                             const char *key)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (dict, key, NULL);

  ksmctl_json_add_value_member (builder, member, value);
}

/* member: value as JSON, null when value is NULL. */
void
ksmctl_json_add_value_member (JsonBuilder *builder, const char *member, GVariant *value)
{
  json_builder_set_member_name (builder, member);
  if (value == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  /* the daemon's types directly (as json_gvariant_serialize would give
   * them, without its generic walk): ksmctl domains prints 30,000 */
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      json_builder_add_boolean_value (builder, g_variant_get_boolean (value));
      break;
    case G_VARIANT_CLASS_INT64:
      json_builder_add_int_value (builder, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      json_builder_add_int_value (builder, (gint64) g_variant_get_uint64 (value));
      break;
    case G_VARIANT_CLASS_STRING:
      json_builder_add_string_value (builder, g_variant_get_string (value, NULL));
      break;
    default:
      json_builder_add_value (builder, json_gvariant_serialize (value));
      break;
    }
}

static void
add_string_or_null (JsonBuilder *builder, const char *str)
{
  if (str != NULL)
    json_builder_add_string_value (builder, str);
  else
    json_builder_add_null_value (builder);
}

/* {"action", "reason", "time" (ISO 8601, null: none yet), "time_us"}; NULL strings are null. */
void
ksmctl_json_add_decision (JsonBuilder *builder, const char *action, const char *reason,
                          gint64 time_us)
{
  g_autofree char *iso = ksmctl_format_time_iso8601 (time_us);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "action");
  add_string_or_null (builder, action);
  json_builder_set_member_name (builder, "reason");
  add_string_or_null (builder, reason);
  json_builder_set_member_name (builder, "time");
  if (iso != NULL)
    json_builder_add_string_value (builder, iso);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "time_us");
  json_builder_add_int_value (builder, time_us);
  json_builder_end_object (builder);
}

/* JSON goes out as UTF-8 whatever the locale, one document per line when not pretty. */
void
ksmctl_print_json (JsonNode *root, gboolean pretty)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *data = NULL;

  json_generator_set_pretty (generator, pretty);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, NULL);
  fputs (data, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

/* ---- errors and exit codes ---- */

static gboolean
name_in (const char *name, const char *const *names)
{
  return name != NULL && g_strv_contains (names, name);
}

/* The D-Bus error name an error is reported under. */
static char *
error_name (const GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);

  if (remote != NULL)
    return g_steal_pointer (&remote);
  if (error->domain == G_OPTION_ERROR)
    return g_strdup ("org.samepage1.Error.InvalidArgs");
  if (error->domain == G_DBUS_ERROR || error->domain == SP_ERROR)
    return g_dbus_error_encode_gerror (error);
  return g_strdup ("org.samepage1.Error.Failed");
}

static KsmctlExit
exit_code_for (const GError *error, const char *name)
{
  static const char *const denied[] = {
    "org.samepage1.Error.AccessDenied",
    "org.freedesktop.DBus.Error.AccessDenied",
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
    "org.freedesktop.PolicyKit1.Error.NotAuthorized",
    NULL,
  };
  static const char *const absent[] = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "org.freedesktop.DBus.Error.NoServer",
    NULL,
  };

  if (error->domain == G_OPTION_ERROR)
    return KSMCTL_EXIT_USAGE;
  if (name_in (name, denied))
    return KSMCTL_EXIT_DENIED;
  /* Spawn.* and systemd1.*: the bus could not start samepaged */
  if (name_in (name, absent) || g_str_has_prefix (name, "org.freedesktop.DBus.Error.Spawn.") ||
      g_str_has_prefix (name, "org.freedesktop.systemd1."))
    return KSMCTL_EXIT_ABSENT;
  return KSMCTL_EXIT_FAILURE;
}

static KsmctlExit
report_error (Ksmctl *ctl, const GError *error)
{
  g_autofree char *name = error_name (error);
  g_autoptr (GError) copy = g_error_copy (error);
  KsmctlExit code = exit_code_for (error, name);

  g_dbus_error_strip_remote_error (copy);
  if (ctl->json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "error");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "message");
      json_builder_add_string_value (builder, copy->message);
      json_builder_end_object (builder);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      ksmctl_print_json (root, TRUE);
      return code;
    }

  switch (code)
    {
    case KSMCTL_EXIT_USAGE:
      g_printerr ("ksmctl: %s\nTry 'ksmctl --help'.\n", copy->message);
      break;
    case KSMCTL_EXIT_DENIED:
      g_printerr ("ksmctl: not authorised: %s\n", copy->message);
      break;
    case KSMCTL_EXIT_ABSENT:
      g_printerr ("ksmctl: samepaged is not reachable: %s\n", copy->message);
      break;
    case KSMCTL_EXIT_OK:
    case KSMCTL_EXIT_FAILURE:
    default:
      g_printerr ("ksmctl: %s\n", copy->message);
      break;
    }
  return code;
}

/* ---- command line ---- */

static char *
commands_help (void)
{
  g_autoptr (GString) str = g_string_new ("Commands:\n");

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *usage = g_strjoin (" ", commands[i].name, commands[i].arguments, NULL);

      /* "…" is one column but three bytes */
      g_string_append_printf (str, "  %-*s %s\n",
                              (int) (24 + strlen (usage) - g_utf8_strlen (usage, -1)), usage,
                              commands[i].description);
    }
  g_string_append (str, "\n");
  g_string_append (str, exit_codes_help);
  g_string_append (str, "\nSee ksmctl(1) for the JSON fields and examples.");
  return g_string_free (g_steal_pointer (&str), FALSE);
}

static const KsmctlCommand *
find_command (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_strcmp0 (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

static KsmctlExit
run_command (Ksmctl *ctl, const KsmctlCommand *cmd, char **args, GError **error)
{
  gboolean help = FALSE;
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl->json, "Print JSON", NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help", NULL },
    { NULL },
  };
  g_autofree char *parameter = g_strjoin (" ", cmd->name, cmd->arguments, NULL);
  g_autoptr (GOptionContext) context = g_option_context_new (parameter);
  int argc;

  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_set_summary (context, cmd->description);
  g_option_context_set_description (context, exit_codes_help);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse_strv (context, &args, error))
    return KSMCTL_EXIT_USAGE;
  if (help)
    {
      g_autofree char *text = g_option_context_get_help (context, TRUE, NULL);

      g_print ("%s", text);
      return KSMCTL_EXIT_OK;
    }

  argc = (int) g_strv_length (args) - 1;
  if (argc < cmd->min_args || (cmd->max_args >= 0 && argc > cmd->max_args))
    {
      if (cmd->max_args == 0)
        ksmctl_usage_error (error, "'%s' takes no arguments", cmd->name);
      else
        ksmctl_usage_error (error, "usage: ksmctl %s %s", cmd->name, cmd->arguments);
      return KSMCTL_EXIT_USAGE;
    }
  if (!cmd->fn (ctl, argc + 1, args, error))
    return KSMCTL_EXIT_FAILURE; /* refined from the error by the caller */
  return KSMCTL_EXIT_OK;
}

static KsmctlExit
run (Ksmctl *ctl, char **args, GError **error)
{
  gboolean help = FALSE;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl->json, "Print JSON (read commands and errors)",
      NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Show the version of ksmctl", NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("COMMAND [ARGUMENT…]");
  g_autofree char *description = commands_help ();
  const KsmctlCommand *cmd;

  g_option_context_set_help_enabled (context, FALSE);
  /* options after the command are the command's */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_set_summary (context, "Control samepaged, the libvirt-aware KSM tuning daemon.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse_strv (context, &args, error))
    return KSMCTL_EXIT_USAGE;
  if (help)
    {
      g_autofree char *text = g_option_context_get_help (context, TRUE, NULL);

      g_print ("%s", text);
      return KSMCTL_EXIT_OK;
    }
  if (version)
    {
      g_print ("ksmctl %s\n", PACKAGE_VERSION);
      return KSMCTL_EXIT_OK;
    }
  if (args[1] == NULL)
    {
      ksmctl_usage_error (error, "no command given");
      return KSMCTL_EXIT_USAGE;
    }
  cmd = find_command (args[1]);
  if (cmd == NULL)
    {
      ksmctl_usage_error (error, "unknown command '%s'", args[1]);
      return KSMCTL_EXIT_USAGE;
    }
  return run_command (ctl, cmd, args + 1, error);
}

/* --json anywhere before "--": errors of the command line are JSON too. */
static gboolean
args_want_json (char **argv)
{
  for (char **arg = argv + 1; *arg != NULL; arg++)
    {
      if (g_str_equal (*arg, "--"))
        break;
      if (g_str_equal (*arg, "--json") || g_str_equal (*arg, "-j"))
        return TRUE;
    }
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) args = g_strdupv (argv);
  Ksmctl ctl = { 0 };
  KsmctlExit code;

  setlocale (LC_ALL, "");
  g_set_prgname ("ksmctl");
  /* remote org.samepage1.Error.* become SP_ERROR */
  (void) sp_error_quark ();

  ctl.json = args_want_json (argv);
  ctl.interactive = isatty (STDIN_FILENO);
  code = run (&ctl, args, &error);
  if (error != NULL)
    code = report_error (&ctl, error);
  g_clear_object (&ctl.bus);
  return (int) code;
}
