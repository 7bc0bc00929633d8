/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A streaming JSON writer, byte for byte JsonGenerator's pretty output. */
#define G_LOG_DOMAIN "ksmctl"

#include "ksmctl-json-writer.h"

#define INDENT 2

void
ksmctl_json_writer_init (KsmctlJsonWriter *w, GString *out)
{
  w->out = out;
  w->level = 0;
  w->empty = TRUE;
  w->pending = FALSE;
}

static void
indent (KsmctlJsonWriter *w, guint level)
{
  for (guint i = 0; i < level * INDENT; i++)
    g_string_append_c (w->out, ' ');
}

/* Where an element starts: after its member name, or on a line of its own
 * inside an array ("," ends the element before it), or at the top. */
static void
element_start (KsmctlJsonWriter *w)
{
  if (w->pending)
    {
      w->pending = FALSE;
      return;
    }
  if (w->level == 0)
    return;
  g_string_append (w->out, w->empty ? "\n" : ",\n");
  w->empty = FALSE;
  indent (w, w->level);
}

static gboolean
is_plain (const char *s)
{
  for (const guchar *p = (const guchar *) s; *p != '\0'; p++)
    if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
      return FALSE;
  return TRUE;
}

/* A scalar node, through json-glib (doubles, strings that need escaping). */
static void
append_scalar (KsmctlJsonWriter *w, JsonNode *node)
{
  g_autofree char *text = json_to_string (node, FALSE);

  g_string_append (w->out, text);
}

static void
append_string (KsmctlJsonWriter *w, const char *value)
{
  if (is_plain (value))
    {
      g_string_append_c (w->out, '"');
      g_string_append (w->out, value);
      g_string_append_c (w->out, '"');
    }
  else
    {
      g_autoptr (JsonNode) node = json_node_init_string (json_node_alloc (), value);

      append_scalar (w, node);
    }
}

void
ksmctl_json_writer_member (KsmctlJsonWriter *w, const char *name)
{
  g_return_if_fail (w->level > 0 && !w->pending);

  element_start (w);
  append_string (w, name);
  g_string_append (w->out, " : ");
  w->pending = TRUE;
}

static void
begin (KsmctlJsonWriter *w, char open)
{
  element_start (w);
  g_string_append_c (w->out, open);
  w->level++;
  w->empty = TRUE;
}

static void
end (KsmctlJsonWriter *w, char close)
{
  g_return_if_fail (w->level > 0 && !w->pending);

  w->level--;
  if (!w->empty)
    {
      g_string_append_c (w->out, '\n');
      indent (w, w->level);
    }
  else if (close == '}')
    indent (w, w->level); /* json-glib 1.6: "{  }" one level in */
  g_string_append_c (w->out, close);
  /* the container just closed is an element of the one around it */
  w->empty = FALSE;
}

void
ksmctl_json_writer_begin_array (KsmctlJsonWriter *w)
{
  begin (w, '[');
}

void
ksmctl_json_writer_end_array (KsmctlJsonWriter *w)
{
  end (w, ']');
}

void
ksmctl_json_writer_begin_object (KsmctlJsonWriter *w)
{
  begin (w, '{');
}

void
ksmctl_json_writer_end_object (KsmctlJsonWriter *w)
{
  end (w, '}');
}

void
ksmctl_json_writer_null (KsmctlJsonWriter *w)
{
  element_start (w);
  g_string_append (w->out, "null");
}

void
ksmctl_json_writer_boolean (KsmctlJsonWriter *w, gboolean value)
{
  element_start (w);
  g_string_append (w->out, value ? "true" : "false");
}

void
ksmctl_json_writer_int (KsmctlJsonWriter *w, gint64 value)
{
  char digits[24];
  char *p = digits + sizeof digits;
  /* as "%" G_GINT64_FORMAT, without printf's cost for 36,000 numbers */
  guint64 magnitude = value < 0 ? -(guint64) value : (guint64) value;

  element_start (w);
  do
    *--p = (char) ('0' + magnitude % 10);
  while ((magnitude /= 10) > 0);
  if (value < 0)
    *--p = '-';
  g_string_append_len (w->out, p, digits + sizeof digits - p);
}

void
ksmctl_json_writer_string (KsmctlJsonWriter *w, const char *value)
{
  if (value == NULL)
    {
      ksmctl_json_writer_null (w);
      return;
    }
  element_start (w);
  append_string (w, value);
}

void
ksmctl_json_writer_node (KsmctlJsonWriter *w, JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        ksmctl_json_writer_begin_object (w);
        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            ksmctl_json_writer_member (w, name);
            ksmctl_json_writer_node (w, member);
          }
        ksmctl_json_writer_end_object (w);
      }
      break;
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);

        ksmctl_json_writer_begin_array (w);
        for (guint i = 0; i < json_array_get_length (array); i++)
          ksmctl_json_writer_node (w, json_array_get_element (array, i));
        ksmctl_json_writer_end_array (w);
      }
      break;
    case JSON_NODE_NULL:
    case JSON_NODE_VALUE:
    default:
      element_start (w);
      append_scalar (w, node);
      break;
    }
}
