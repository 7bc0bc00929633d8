/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl's streaming JSON writer gives JsonGenerator's bytes (pretty, indent 2). */
#include "ksmctl-json-writer.h"
#include "sp-test.h"

/* What ksmctl_print_json() prints for root, without the newline. */
static char *
generated (JsonNode *root)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static char *
streamed (JsonNode *root)
{
  g_autoptr (GString) out = g_string_new (NULL);
  KsmctlJsonWriter w;

  ksmctl_json_writer_init (&w, out);
  ksmctl_json_writer_node (&w, root);
  g_assert_cmpuint (w.level, ==, 0);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
assert_same (const char *json)
{
  g_autoptr (JsonNode) root = json_from_string (json, NULL);
  g_autofree char *want = NULL;
  g_autofree char *got = NULL;

  g_assert_nonnull (root);
  want = generated (root);
  got = streamed (root);
  g_assert_cmpstr (got, ==, want);
}

/* Every shape ksmctl writes, and strings json-glib must escape. */
static void
test_same_as_generator (void)
{
  assert_same ("[]");
  assert_same ("{}");
  assert_same ("[[], {}, [[]], {\"a\" : {}}]");
  assert_same ("[{\"name\" : \"d1\", \"active\" : true, \"current_kib\" : 262144, "
               "\"pid\" : -1, \"reason\" : null, \"ratio\" : 1.5, \"whole\" : 2.0}]");
  assert_same ("{\"nested\" : {\"list\" : [1, [2, {\"x\" : false}], \"three\"]}, \"after\" : 4}");
  assert_same ("[\"quote \\\" backslash \\\\ tab \\t newline \\n\", \"\\u0001 \\u001f \\u007f\", "
               "\"caf\\u00e9 \\u2192 \\ud83d\\ude00\", \"\"]");
  assert_same ("{\"n\\u00e4me \\\"q\\\"\" : \"v\"}");
}

/* The calls ksmctl domains makes, member by member. */
static void
test_calls (void)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *want = NULL;
  KsmctlJsonWriter w;

  ksmctl_json_writer_init (&w, out);
  ksmctl_json_writer_begin_array (&w);
  for (int i = 0; i < 2; i++)
    {
      ksmctl_json_writer_begin_object (&w);
      ksmctl_json_writer_member (&w, "name");
      ksmctl_json_writer_string (&w, i == 0 ? "web1" : "tab\there");
      ksmctl_json_writer_member (&w, "reason");
      ksmctl_json_writer_string (&w, NULL);
      ksmctl_json_writer_member (&w, "active");
      ksmctl_json_writer_boolean (&w, i == 0);
      ksmctl_json_writer_member (&w, "current_kib");
      ksmctl_json_writer_int (&w, G_MININT64 + i);
      ksmctl_json_writer_end_object (&w);
    }
  ksmctl_json_writer_end_array (&w);

  root = json_from_string (out->str, NULL);
  g_assert_nonnull (root);
  want = generated (root);
  g_assert_cmpstr (out->str, ==, want);
  g_assert_nonnull (strstr (out->str, "\"tab\\there\""));
  g_assert_nonnull (strstr (out->str, "\"reason\" : null"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ksmctl-json-writer/same-as-generator", test_same_as_generator);
  g_test_add_func ("/ksmctl-json-writer/calls", test_calls);
  return g_test_run ();
}
