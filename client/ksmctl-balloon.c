/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl balloon DOMAIN [min=SIZE] [shares=N] [on|off] [reporting on|off]: SetBalloon,
 * and for reporting (the persistent config only) when it takes effect. */
#include "ksmctl.h"

#include <string.h>

#include "sp-str.h"

/* "512M", "2G", "1048576K", "1048576" (KiB): a size in KiB. */
static gboolean
parse_size_kib (const char *text, guint64 *out)
{
  static const struct {
    char suffix;
    guint64 kib;
  } units[] = {
    { 'K', 1 },
    { 'M', 1024 },
    { 'G', 1024 * 1024 },
    { 'T', 1024 * 1024 * 1024 },
  };
  g_autofree char *digits = g_strdup (text);
  gsize len = strlen (digits);
  guint64 factor = 1;
  guint64 value;

  if (len > 3 && g_str_has_suffix (digits, "iB"))
    digits[len -= 2] = '\0';
  else if (len > 1 && (digits[len - 1] == 'B' || digits[len - 1] == 'b'))
    digits[--len] = '\0';
  for (gsize i = 0; len > 0 && i < G_N_ELEMENTS (units); i++)
    if (g_ascii_toupper (digits[len - 1]) == units[i].suffix)
      {
        factor = units[i].kib;
        digits[--len] = '\0';
        break;
      }
  if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64 / factor, &value, NULL))
    return FALSE;
  *out = value * factor;
  return TRUE;
}

static void
print_json (const char *domain, gboolean has_reporting, gboolean reporting, GVariant *found,
            KsmctlEffect effect)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "domain");
  json_builder_add_string_value (builder, domain);
  json_builder_set_member_name (builder, "saved");
  json_builder_add_boolean_value (builder, TRUE);
  if (has_reporting)
    {
      json_builder_set_member_name (builder, "free_page_reporting");
      json_builder_add_boolean_value (builder, reporting);
      ksmctl_json_add_effect (builder, effect, found);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  ksmctl_print_json (root, TRUE);
}

gboolean
ksmctl_cmd_balloon (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  const char *domain = argv[1];
  GVariantBuilder settings;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) found = NULL;
  g_autoptr (GVariant) props = NULL;
  gboolean has_reporting = FALSE;
  gboolean reporting = FALSE;
  gboolean has_metadata = FALSE;
  KsmctlEffect effect = KSMCTL_EFFECT_UNKNOWN;

  g_variant_builder_init (&settings, G_VARIANT_TYPE_VARDICT);
  for (int i = 2; i < argc; i++)
    {
      const char *arg = argv[i];

      if (g_str_equal (arg, "on") || g_str_equal (arg, "off"))
        g_variant_builder_add (&settings, "{sv}", "managed",
                               g_variant_new_boolean (g_str_equal (arg, "on")));
      else if (g_str_has_prefix (arg, "min="))
        {
          guint64 kib;

          if (!parse_size_kib (arg + 4, &kib))
            {
              g_variant_builder_clear (&settings);
              return ksmctl_usage_error (error, "'%s' is not a size (e.g. 512M, 2G, 1048576K)",
                                         arg + 4);
            }
          g_variant_builder_add (&settings, "{sv}", "min", g_variant_new_uint64 (kib));
        }
      else if (g_str_has_prefix (arg, "shares="))
        {
          guint64 shares;

          if (!g_ascii_string_to_unsigned (arg + 7, 10, 0, G_MAXUINT32, &shares, NULL))
            {
              g_variant_builder_clear (&settings);
              return ksmctl_usage_error (error, "'%s' is not a number of shares", arg + 7);
            }
          g_variant_builder_add (&settings, "{sv}", "shares", g_variant_new_uint64 (shares));
        }
      else if (g_str_equal (arg, "reporting"))
        {
          const char *value = i + 1 < argc ? argv[i + 1] : NULL;

          if (g_strcmp0 (value, "on") != 0 && g_strcmp0 (value, "off") != 0)
            {
              g_variant_builder_clear (&settings);
              return ksmctl_usage_error (error, "reporting takes on or off");
            }
          has_reporting = TRUE;
          reporting = g_str_equal (value, "on");
          g_variant_builder_add (&settings, "{sv}", "reporting", g_variant_new_boolean (reporting));
          i++;
          continue;
        }
      else
        {
          g_variant_builder_clear (&settings);
          return ksmctl_usage_error (
              error, "'%s' is none of min=SIZE, shares=N, on, off, reporting on|off", arg);
        }
      has_metadata = TRUE;
    }
  reply =
      ksmctl_call_setter (ctl, "SetBalloon", g_variant_new ("(sa{sv})", domain, &settings), error);
  if (reply == NULL)
    return FALSE;
  if (has_reporting)
    {
      /* the change is made: failing to read it back is only a warning */
      ksmctl_read_back (ctl, domain, &found, &props);
      effect = ksmctl_effect_of (props, NULL, "FreePageReportingActive", reporting);
    }
  if (ctl->json)
    print_json (domain, has_reporting, reporting, found, effect);
  else
    {
      if (has_metadata)
        g_print ("%s: balloon settings saved in its domain XML.\n", domain);
      if (has_reporting)
        ksmctl_print_effect (props, domain, "free page reporting", reporting, effect);
    }
  return TRUE;
}
