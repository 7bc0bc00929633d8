/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * g_autoptr() cleanups for the libxml2 types samepaged uses, declared once
 * for the domain XML reader and editor, and the parser they share.
 */
#pragma once

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

G_BEGIN_DECLS

/* xmlFree is a function pointer variable, not a function: wrap it. */
static inline void
sp_xml_char_free (xmlChar *str)
{
  xmlFree (str);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlChar, sp_xml_char_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlXPathObject, xmlXPathFreeObject)

/*
 * Parses a libvirt domain XML the one way samepaged does: no network, no DTD
 * loading, no entity substitution, nothing on stderr; blanks, comments and
 * CDATA kept (the editor writes the document back). Refuses a DOCTYPE and a
 * root other than <domain> without namespace (SP_ERROR_INVALID_ARGS).
 */
xmlDoc *sp_xml_read_domain (const char *xml, GError **error);

/* sp_xml_read_domain() and an XPath context on the document (out of
 * memory: SP_ERROR_FAILED); *doc and *ctxt are set only on success. */
gboolean sp_xml_open_domain (const char *xml, xmlDoc **doc, xmlXPathContext **ctxt, GError **error);

G_END_DECLS
