/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl domains: the org.samepage1.Domain objects, from GetManagedObjects. */
#define G_LOG_DOMAIN "ksmctl"

#include <string.h>

#include "ksmctl.h"
#include "sp-names.h"

static int
compare_domains (gconstpointer a, gconstpointer b)
{
  GVariant *da = *(GVariant *const *) a;
  GVariant *db = *(GVariant *const *) b;
  g_autoptr (GVariant) pa = g_variant_get_child_value (da, 1);
  g_autoptr (GVariant) pb = g_variant_get_child_value (db, 1);
  int cmp = g_strcmp0 (ksmctl_dict_string (pa, "Name"), ksmctl_dict_string (pb, "Name"));

  if (cmp != 0)
    return cmp;
  return g_strcmp0 (ksmctl_dict_string (pa, "Uuid"), ksmctl_dict_string (pb, "Uuid"));
}

/* Every object of samepaged with org.samepage1.Domain, as (oa{sv}), sorted by name. */
GPtrArray *
ksmctl_get_domains (Ksmctl *ctl, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GPtrArray) domains = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  reply = ksmctl_call (ctl, SP_DBUS_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                       NULL, "(a{oa{sa{sv}}})", error);
  if (reply == NULL)
    return NULL;
  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_loop (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr (GVariant) props =
          g_variant_lookup_value (interfaces, SP_DBUS_INTERFACE_DOMAIN, G_VARIANT_TYPE_VARDICT);

      if (props != NULL)
        g_ptr_array_add (domains, g_variant_ref_sink (g_variant_new ("(o@a{sv})", path, props)));
    }
  g_ptr_array_sort (domains, compare_domains);
  return g_steal_pointer (&domains);
}

/* The domain (oa{sv}) with this name or UUID, NULL if none. */
GVariant *
ksmctl_find_domain (GPtrArray *domains, const char *name_or_uuid)
{
  for (guint i = 0; i < domains->len; i++)
    {
      g_autoptr (GVariant) props = g_variant_get_child_value (domains->pdata[i], 1);
      const char *uuid = ksmctl_dict_string (props, "Uuid");

      if (g_strcmp0 (ksmctl_dict_string (props, "Name"), name_or_uuid) == 0 ||
          (uuid != NULL && g_ascii_strcasecmp (uuid, name_or_uuid) == 0))
        return g_variant_ref (domains->pdata[i]);
    }
  return NULL;
}

typedef struct {
  const char *member;
  const char *property;
} DomainField;

static const DomainField domain_fields[] = {
  { "name", "Name" },
  { "uuid", "Uuid" },
  { "active", "Active" },
  { "persistent", "Persistent" },
  { "mem_merge", "MemMerge" },
  { "mem_merge_active", "MemMergeActive" },
  { "pending_restart", "PendingRestart" },
  { "current_kib", "CurrentKiB" },
  { "maximum_kib", "MaximumKiB" },
  { "memory_source", "MemorySource" },
  { "mergeable", "Mergeable" },
  { "merging_pages", "MergingPages" },
  { "zero_pages", "ZeroPages" },
  { "process_profit", "ProcessProfit" },
  { "pid", "Pid" },
  { "ksm_mergeable", "KsmMergeable" },
  { "unmergeable_kib", "UnmergeableKiB" },
  { "balloon_model", "BalloonModel" },
  { "balloon_managed", "BalloonManaged" },
  { "balloon_min_kib", "BalloonMinKiB" },
  { "balloon_shares", "BalloonShares" },
  { "balloon_config_kib", "BalloonConfigKiB" },
  { "guest_usable_kib", "GuestUsableKiB" },
  { "guest_unused_kib", "GuestUnusedKiB" },
  { "guest_stats_updated", "GuestStatsUpdated" },
  { "stats_period", "StatsPeriod" },
  { "free_page_reporting", "FreePageReporting" },
  { "autodeflate", "AutoDeflate" },
  { "guest_available_kib", "GuestAvailableKiB" },
  { "balloon_target_kib", "BalloonTargetKiB" },
  { "balloon_floor_kib", "BalloonFloorKiB" },
  { "balloon_state", "BalloonState" },
  { "balloon_reason", "BalloonReason" },
};

/* One domain as a JSON object; unmergeable_reason is null when KSM can merge it. */
void
ksmctl_json_add_domain (JsonBuilder *builder, GVariant *domain)
{
  g_autoptr (GVariant) props = g_variant_get_child_value (domain, 1);
  const char *path = NULL;
  const char *reason = ksmctl_dict_string (props, "UnmergeableReason");

  g_variant_get_child (domain, 0, "&o", &path);
  json_builder_begin_object (builder);
  for (gsize i = 0; i < G_N_ELEMENTS (domain_fields); i++)
    ksmctl_json_add_dict_member (builder, domain_fields[i].member, props,
                                 domain_fields[i].property);
  json_builder_set_member_name (builder, "unmergeable_reason");
  if (ksmctl_dict_boolean (props, "Mergeable") || reason == NULL || *reason == '\0')
    json_builder_add_null_value (builder);
  else
    json_builder_add_string_value (builder, reason);
  json_builder_set_member_name (builder, "unmergeable_part");
  reason = ksmctl_dict_string (props, "UnmergeablePart");
  if (reason == NULL || *reason == '\0')
    json_builder_add_null_value (builder);
  else
    json_builder_add_string_value (builder, reason);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, path);
  json_builder_end_object (builder);
}

static void
print_json (GPtrArray *domains)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_array (builder);
  for (guint i = 0; i < domains->len; i++)
    ksmctl_json_add_domain (builder, domains->pdata[i]);
  json_builder_end_array (builder);
  root = json_builder_get_root (builder);
  ksmctl_print_json (root, TRUE);
}

enum { COL_NAME, COL_STATE, COL_MEMORY, COL_MERGE, COL_MERGED, COL_BALLOON, COL_NOTE, N_COLUMNS };

static const char *const headers[N_COLUMNS + 1] = { "NAME",   "STATE",   "MEMORY", "MERGE",
                                                    "MERGED", "BALLOON", "NOTE",   NULL };

char *
ksmctl_balloon_move (GVariant *props, const char *arrow)
{
  const char *state = ksmctl_dict_string (props, "BalloonState");
  gint64 current_kib = ksmctl_dict_int (props, "CurrentKiB");
  gint64 target_kib = ksmctl_dict_int (props, "BalloonTargetKiB");
  g_autofree char *current = NULL;
  g_autofree char *target = NULL;

  if (g_strcmp0 (state, "shrink") != 0 && g_strcmp0 (state, "grow") != 0 &&
      g_strcmp0 (state, "timed-out") != 0)
    return NULL;
  if (target_kib == current_kib || target_kib == 0)
    return NULL;
  current = sp_format_kib (current_kib);
  target = sp_format_kib (target_kib);
  return g_strconcat (current, arrow, target, NULL);
}

/* BALLOON: "-" when samepaged leaves it alone (not managed, not running, balloon off), the
 * state when it does not move ("hold", "timed-out"), else "CURRENT→TARGET shrink" (grow,
 * timed-out). */
static char *
balloon_cell (GVariant *props)
{
  const char *state = ksmctl_dict_string (props, "BalloonState");
  g_autofree char *move = NULL;

  if (state == NULL || *state == '\0' || g_str_equal (state, "none"))
    return g_strdup ("-");
  move = ksmctl_balloon_move (props, ksmctl_arrow ());
  if (move == NULL)
    return g_strdup (state);
  return g_strdup_printf ("%s %s", move, state);
}

/* balloon: model, opt-out, reporting, autodeflate, shrunk by how much */
static void
note_balloon (GPtrArray *notes, GVariant *props)
{
  const char *model = ksmctl_dict_string (props, "BalloonModel");
  gint64 config_kib = ksmctl_dict_int (props, "BalloonConfigKiB");
  gint64 current_kib = ksmctl_dict_int (props, "CurrentKiB");

  if (model != NULL && *model != '\0' && !g_str_has_prefix (model, "virtio"))
    g_ptr_array_add (notes, g_strdup_printf ("balloon %s", model));
  if (!ksmctl_dict_boolean (props, "BalloonManaged"))
    g_ptr_array_add (notes, g_strdup ("balloon opted out"));
  if (ksmctl_dict_boolean (props, "FreePageReporting"))
    g_ptr_array_add (notes, g_strdup ("free page reporting"));
  if (ksmctl_dict_boolean (props, "AutoDeflate"))
    g_ptr_array_add (notes, g_strdup ("autodeflate"));
  if (ksmctl_dict_boolean (props, "Active") && config_kib > current_kib)
    {
      g_autofree char *size = sp_format_kib (config_kib - current_kib);
      g_ptr_array_add (notes, g_strdup_printf ("balloon holds %s", size));
    }
}

static char *
domain_note (GVariant *props)
{
  g_autoptr (GPtrArray) notes = g_ptr_array_new_with_free_func (g_free);
  const char *reason = ksmctl_dict_string (props, "UnmergeableReason");

  const char *part = ksmctl_dict_string (props, "UnmergeablePart");
  gint64 unmergeable_kib = ksmctl_dict_int (props, "UnmergeableKiB");

  if (!ksmctl_dict_boolean (props, "Mergeable"))
    g_ptr_array_add (notes, g_strdup_printf ("not mergeable: %s",
                                             reason != NULL && *reason ? reason : "unknown"));
  else if (unmergeable_kib > 0)
    {
      g_autofree char *size = sp_format_kib (unmergeable_kib);

      g_ptr_array_add (notes, g_strdup_printf ("%s not mergeable: %s", size,
                                               part != NULL && *part ? part : "unknown"));
    }
  if (ksmctl_dict_boolean (props, "PendingRestart"))
    g_ptr_array_add (notes,
                     g_strdup_printf ("merge %s from the next cold start",
                                      ksmctl_dict_boolean (props, "MemMerge") ? "on" : "off"));
  if (!ksmctl_dict_boolean (props, "Persistent"))
    g_ptr_array_add (notes, g_strdup ("transient"));
  note_balloon (notes, props);
  g_ptr_array_add (notes, NULL);
  return g_strjoinv ("; ", (char **) notes->pdata);
}

static char **
domain_row (GVariant *domain)
{
  g_autoptr (GVariant) props = g_variant_get_child_value (domain, 1);
  char **row = g_new0 (char *, N_COLUMNS + 1);
  gboolean active = ksmctl_dict_boolean (props, "Active");

  row[COL_NAME] = g_strdup (ksmctl_dict_string (props, "Name") ?: "?");
  row[COL_STATE] = g_strdup (active ? "running" : "shut off");
  row[COL_MEMORY] = sp_format_kib (ksmctl_dict_int (props, "CurrentKiB"));
  row[COL_MERGE] = g_strdup (ksmctl_dict_boolean (props, "MemMergeActive") ? "on" : "off");
  if (active)
    row[COL_MERGED] =
        sp_format_kib (ksmctl_dict_int (props, "MergingPages") * (gint64) sp_page_size_kib ());
  else
    row[COL_MERGED] = g_strdup ("-");
  row[COL_BALLOON] = balloon_cell (props);
  row[COL_NOTE] = domain_note (props);
  return row;
}

static void
print_padded (GString *line, const char *cell, gsize width, gboolean last)
{
  g_string_append (line, cell);
  if (last)
    return;
  for (gsize n = g_utf8_strlen (cell, -1); n < width + 2; n++)
    g_string_append_c (line, ' ');
}

/* MERGE is what the running guest does (MemMergeActive); a pending change is a note. */
static void
print_table (GPtrArray *domains)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  gsize widths[N_COLUMNS];

  if (domains->len == 0)
    {
      g_print ("No domains.\n");
      return;
    }
  for (int c = 0; c < N_COLUMNS; c++)
    widths[c] = strlen (headers[c]);
  g_ptr_array_add (rows, g_strdupv ((char **) headers));
  for (guint i = 0; i < domains->len; i++)
    {
      char **row = domain_row (domains->pdata[i]);

      for (int c = 0; c < N_COLUMNS; c++)
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (row[c], -1));
      g_ptr_array_add (rows, row);
    }
  for (guint r = 0; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      g_autoptr (GString) line = g_string_new (NULL);

      for (int c = 0; c < N_COLUMNS; c++)
        print_padded (line, row[c], widths[c], c == N_COLUMNS - 1);
      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      g_print ("%s\n", line->str);
    }
}

gboolean
ksmctl_cmd_domains (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) domains = ksmctl_get_domains (ctl, error);

  if (domains == NULL)
    return FALSE;
  if (ctl->json)
    print_json (domains);
  else
    print_table (domains);
  return TRUE;
}
