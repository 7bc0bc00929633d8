/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-xml"

#include "sp-xml-util.h"

#include <string.h>

#include "sp-error.h"

static void
xml_init_once (void)
{
  static gsize initialized = 0;

  /* not reentrant: once, before any parse (parsing runs in workers) */
  if (g_once_init_enter (&initialized))
    {
      xmlInitParser ();
      g_once_init_leave (&initialized, 1);
    }
}

xmlDoc *
sp_xml_read_domain (const char *xml, GError **error)
{
  g_autoptr (xmlParserCtxt) pctxt = NULL;
  g_autoptr (xmlDoc) doc = NULL;
  xmlNode *root;
  gsize len = strlen (xml);

  xml_init_once ();

  if (len > G_MAXINT)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "Domain XML is too large");
      return NULL;
    }
  pctxt = xmlNewParserCtxt ();
  if (pctxt == NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot create an XML parser");
      return NULL;
    }
  /* no network, no DTD loading, no entity substitution, nothing on stderr */
  doc = xmlCtxtReadMemory (pctxt, xml, (int) len, "domain.xml", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL)
    {
      xmlError *xerr = xmlCtxtGetLastError (pctxt);
      g_autofree char *message = NULL;

      message = g_strdup (xerr != NULL && xerr->message != NULL ? xerr->message : "parse error");
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "Domain XML is not well-formed (line %d): %s", xerr != NULL ? xerr->line : 0,
                   g_strchomp (message));
      return NULL;
    }

  /* libvirt never writes a DOCTYPE; refusing it keeps entity expansion
   * (and its amplification) out of the XPath string values below */
  if (doc->intSubset != NULL || doc->extSubset != NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "Not a libvirt domain XML: it has a DOCTYPE");
      return NULL;
    }
  root = xmlDocGetRootElement (doc);
  if (root == NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "Not a libvirt domain XML: no root element");
      return NULL;
    }
  if (root->ns != NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "Not a libvirt domain XML: the root element is <%s> in namespace %s",
                   (const char *) root->name,
                   root->ns->href != NULL ? (const char *) root->ns->href : "(none)");
      return NULL;
    }
  if (!xmlStrEqual (root->name, (const xmlChar *) "domain"))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "Not a libvirt domain XML: the root element is <%s>", (const char *) root->name);
      return NULL;
    }
  return g_steal_pointer (&doc);
}

gboolean
sp_xml_open_domain (const char *xml, xmlDoc **doc, xmlXPathContext **ctxt, GError **error)
{
  g_autoptr (xmlDoc) parsed = sp_xml_read_domain (xml, error);
  xmlXPathContext *context;

  if (parsed == NULL)
    return FALSE;
  context = xmlXPathNewContext (parsed);
  if (context == NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot create an XPath context");
      return FALSE;
    }
  *doc = g_steal_pointer (&parsed);
  *ctxt = context;
  return TRUE;
}
