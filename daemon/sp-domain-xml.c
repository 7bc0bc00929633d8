/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain-xml"

#include "sp-domain-xml.h"

#include <string.h>

#include "sp-error.h"
#include "sp-io.h"
#include "sp-xml-util.h"

/* libvirt refuses memory sizes above LLONG_MAX bytes (virMemoryMaxValue()),
 * so a larger value cannot come from libvirt. */
#define SP_DOMAIN_XML_MAX_BYTES ((guint64) G_MAXINT64)

void
sp_domain_xml_facts_clear (SpDomainXmlFacts *facts)
{
  if (facts == NULL)
    return;
  g_free (facts->name);
  g_free (facts->uuid);
  g_free (facts->source_type);
  g_free (facts->unmergeable_part);
  sp_balloon_xml_clear (&facts->balloon);
  memset (facts, 0, sizeof (*facts));
}

static xmlXPathObject *
xpath_eval (xmlXPathContext *ctxt, const char *expr, GError **error)
{
  xmlXPathObject *obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctxt);

  if (obj == NULL)
    g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML", expr);
  return obj;
}

/* Whether expr is true (a node-set: selects at least one node). */
static gboolean
xpath_boolean (xmlXPathContext *ctxt, const char *expr, gboolean *out, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xpath_eval (ctxt, expr, error);

  if (obj == NULL)
    return FALSE;
  *out = xmlXPathCastToBoolean (obj) != 0;
  return TRUE;
}

/* The string value of the first node expr selects; NULL when it selects none. */
static gboolean
xpath_string (xmlXPathContext *ctxt, const char *expr, char **out, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xpath_eval (ctxt, expr, error);
  g_autoptr (xmlChar) str = NULL;

  if (obj == NULL)
    return FALSE;
  if (obj->type == XPATH_NODESET && xmlXPathNodeSetIsEmpty (obj->nodesetval))
    {
      *out = NULL;
      return TRUE;
    }
  str = xmlXPathCastToString (obj);
  if (str == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML",
                   expr);
      return FALSE;
    }
  *out = g_strdup ((const char *) str);
  return TRUE;
}

/* /domain/<element> with its unit attribute in KiB; found FALSE when absent. */
static gboolean
read_memory_element (xmlXPathContext *ctxt, const char *element, guint64 *kib, gboolean *found,
                     GError **error)
{
  g_autofree char *value_xpath = g_strdup_printf ("/domain/%s[1]", element);
  g_autofree char *unit_xpath = g_strdup_printf ("/domain/%s[1]/@unit", element);
  g_autofree char *value = NULL;
  g_autofree char *unit = NULL;

  if (!xpath_string (ctxt, value_xpath, &value, error))
    return FALSE;
  if (!xpath_string (ctxt, unit_xpath, &unit, error))
    return FALSE;
  *found = value != NULL;
  if (value == NULL)
    return TRUE;
  if (!sp_domain_xml_memory_to_kib (value, unit, kib, error))
    {
      g_prefix_error (error, "Invalid <%s> in domain XML: ", element);
      return FALSE;
    }
  return TRUE;
}

/* Without <memory>, libvirt sizes the guest from its NUMA cells. */
static gboolean
read_numa_memory (xmlXPathContext *ctxt, guint64 *kib, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xpath_eval (ctxt, "/domain/cpu/numa/cell[@memory]", error);
  guint64 total_kib = 0;

  if (obj == NULL)
    return FALSE;
  if (obj->type != XPATH_NODESET || obj->nodesetval == NULL)
    {
      *kib = 0;
      return TRUE;
    }
  for (int i = 0; i < obj->nodesetval->nodeNr; i++)
    {
      xmlNode *cell = obj->nodesetval->nodeTab[i];
      g_autoptr (xmlChar) value = xmlGetProp (cell, (const xmlChar *) "memory");
      g_autoptr (xmlChar) unit = xmlGetProp (cell, (const xmlChar *) "unit");
      guint64 cell_kib;

      if (!sp_domain_xml_memory_to_kib ((const char *) value, (const char *) unit, &cell_kib,
                                        error))
        {
          g_prefix_error (error, "Invalid NUMA <cell> memory in domain XML: ");
          return FALSE;
        }
      if (cell_kib > SP_DOMAIN_XML_MAX_BYTES / 1024 - total_kib)
        {
          g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                               "Invalid NUMA cells in domain XML: total memory is too large");
          return FALSE;
        }
      total_kib += cell_kib;
    }
  *kib = total_kib;
  return TRUE;
}

gboolean
sp_domain_xml_parse (const char *xml, SpDomainXmlFacts *facts, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  g_autoptr (xmlXPathContext) ctxt = NULL;
  g_auto (SpDomainXmlFacts) result = { 0 };
  g_auto (SpDomainMemory) regions = { 0 };
  gboolean found;

  g_return_val_if_fail (xml != NULL, FALSE);
  g_return_val_if_fail (facts != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!sp_xml_open_domain (xml, &doc, &ctxt, error))
    return FALSE;

  if (!xpath_string (ctxt, "/domain/name[1]", &result.name, error))
    return FALSE;
  if (!xpath_string (ctxt, "/domain/uuid[1]", &result.uuid, error))
    return FALSE;
  if (result.uuid != NULL)
    g_strstrip (result.uuid);

  if (!read_memory_element (ctxt, "memory", &result.memory_kib, &found, error))
    return FALSE;
  if (!found && !read_numa_memory (ctxt, &result.memory_kib, error))
    return FALSE;
  if (!read_memory_element (ctxt, "currentMemory", &result.current_memory_kib, &found, error))
    return FALSE;
  if (!found)
    result.current_memory_kib = result.memory_kib;

  if (!xpath_boolean (ctxt, "/domain/memoryBacking/nosharepages", &result.nosharepages, error))
    return FALSE;
  if (!sp_domain_memory_read (ctxt, result.memory_kib, sp_page_size_kib (), &regions, error))
    return FALSE;
  result.hugepages = regions.all_hugepages;
  result.shared_access = regions.all_shared;
  result.unmergeable_kib = regions.unmergeable_kib;
  result.unmergeable_part = g_steal_pointer (&regions.unmergeable_part);
  if (!xpath_string (ctxt, "/domain/memoryBacking/source[1]/@type", &result.source_type, error))
    return FALSE;
  if (!xpath_boolean (ctxt, "/domain/launchSecurity", &result.launch_security, error))
    return FALSE;
  if (!sp_balloon_xml_read (ctxt, &result.balloon, error))
    return FALSE;

  sp_domain_xml_facts_clear (facts);
  *facts = result;
  memset (&result, 0, sizeof (result));
  return TRUE;
}

const char *
sp_domain_xml_unmergeable_reason (const SpDomainXmlFacts *facts)
{
  g_return_val_if_fail (facts != NULL, NULL);

  /* the most fundamental reason first */
  if (facts->nosharepages)
    return "nosharepages";
  if (facts->hugepages)
    return "hugepages";
  if (facts->launch_security)
    return "launch security (encrypted memory)";
  if (g_strcmp0 (facts->source_type, "memfd") == 0)
    return "memfd memory backing";
  if (g_strcmp0 (facts->source_type, "file") == 0)
    return "file memory backing";
  if (facts->shared_access)
    return "shared memory access";
  if (facts->memory_kib > 0 && facts->unmergeable_kib >= facts->memory_kib)
    return "no mergeable memory";
  return NULL;
}
