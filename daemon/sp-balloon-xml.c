/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain-xml"

#include "sp-balloon-xml.h"

#include <string.h>

#include <libxml/xpathInternals.h>

#include "sp-error.h"
#include "sp-xml-util.h"

void
sp_balloon_xml_clear (SpBalloonXml *balloon)
{
  if (balloon == NULL)
    return;
  g_free (balloon->model);
  memset (balloon, 0, sizeof (*balloon));
}

gboolean
sp_balloon_xml_model_has_driver (const char *model)
{
  return model != NULL && g_str_has_prefix (model, "virtio");
}

/* The value of the attribute of the first node expr selects, or NULL. */
static char *
first_attribute (xmlXPathContext *ctxt, const char *expr, const char *attribute, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctxt);
  g_autoptr (xmlChar) value = NULL;

  if (obj == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML",
                   expr);
      return NULL;
    }
  if (obj->type != XPATH_NODESET || xmlXPathNodeSetIsEmpty (obj->nodesetval))
    return NULL;
  value = xmlGetProp (obj->nodesetval->nodeTab[0], (const xmlChar *) attribute);
  return value != NULL ? g_strdup ((const char *) value) : NULL;
}

static gboolean
parse_uint (const char *what, const char *value, guint64 max, guint64 *out, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!g_ascii_string_to_unsigned (value, 10, 0, max, out, &local_error))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "Invalid %s in domain XML: %s", what,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_balloon_xml_read (xmlXPathContext *ctxt, SpBalloonXml *balloon, GError **error)
{
  const char *device = "/domain/devices/memballoon[1]";
  const char *meta = "/domain/metadata/sp:" SP_BALLOON_METADATA_ELEMENT "[1]";
  g_autoptr (GError) local_error = NULL;
  g_autofree char *reporting = NULL;
  g_autofree char *autodeflate = NULL;
  g_autofree char *period = NULL;
  g_autofree char *managed = NULL;
  g_autofree char *min = NULL;
  g_autofree char *shares = NULL;

  sp_balloon_xml_clear (balloon);
  balloon->managed = TRUE;
  if (xmlXPathRegisterNs (ctxt, (const xmlChar *) "sp",
                          (const xmlChar *) SP_BALLOON_METADATA_URI) != 0)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot register an XPath namespace");
      return FALSE;
    }

  {
    struct {
      const char *expr;
      const char *attribute;
      char **out;
    } reads[] = {
      { device, "model", &balloon->model },
      { device, "freePageReporting", &reporting },
      { device, "autodeflate", &autodeflate },
      { "/domain/devices/memballoon[1]/stats[1]", "period", &period },
      { meta, "managed", &managed },
      { meta, "min-kib", &min },
      { meta, "shares", &shares },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (reads); i++)
      {
        *reads[i].out = first_attribute (ctxt, reads[i].expr, reads[i].attribute, &local_error);
        if (local_error != NULL)
          {
            g_propagate_error (error, g_steal_pointer (&local_error));
            return FALSE;
          }
      }
  }
  balloon->free_page_reporting = g_strcmp0 (reporting, "on") == 0;
  balloon->autodeflate = g_strcmp0 (autodeflate, "on") == 0;
  if (period != NULL &&
      !parse_uint ("memballoon stats period", period, G_MAXINT, &balloon->stats_period_sec, error))
    return FALSE;
  balloon->managed = g_strcmp0 (managed, "no") != 0;
  balloon->has_min = min != NULL;
  if (min != NULL &&
      !parse_uint ("samepage balloon min-kib", min, G_MAXINT64 / 1024, &balloon->min_kib, error))
    return FALSE;
  balloon->has_shares = shares != NULL;
  if (shares != NULL && !parse_uint ("samepage balloon shares", shares, SP_BALLOON_MAX_SHARES,
                                     &balloon->shares, error))
    return FALSE;
  if (balloon->has_shares && balloon->shares == 0)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "Invalid samepage balloon shares in domain XML: 0");
      return FALSE;
    }
  return TRUE;
}

char *
sp_balloon_xml_metadata (gboolean managed, gboolean has_min, guint64 min_kib, gboolean has_shares,
                         guint64 shares)
{
  g_autoptr (GString) str = g_string_new ("<" SP_BALLOON_METADATA_ELEMENT);

  g_string_append_printf (str, " managed=\"%s\"", managed ? "yes" : "no");
  if (has_min)
    g_string_append_printf (str, " min-kib=\"%" G_GUINT64_FORMAT "\"", min_kib);
  if (has_shares)
    g_string_append_printf (str, " shares=\"%" G_GUINT64_FORMAT "\"", shares);
  g_string_append (str, "/>");
  return g_string_free (g_steal_pointer (&str), FALSE);
}
