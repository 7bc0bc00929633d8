/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-libvirt.h"

#include "sp-libvirt-events.h"
#include "sp-libvirt-util.h"

/*
 * The wiring: a new connection is subscribed to (events), then refreshed in
 * full; an event refreshes the domain it names; a refresh, and a change of
 * the connection, publishes.
 */
struct _SpLibvirt {
  GObject parent_instance;

  SpLibvirtLink *link;
  SpLibvirtEvents *events;
  SpGuestQuery *query;
  SpGuests *guests; /* published */
  GCancellable *cancellable;
};

enum {
  SIGNAL_GUESTS_CHANGED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpLibvirt, sp_libvirt, G_TYPE_OBJECT)

/* Takes fresh. */
static void
publish (SpLibvirt *self, SpGuests *fresh)
{
  g_clear_pointer (&self->guests, sp_guests_unref);
  self->guests = fresh;
  g_signal_emit (self, signals[SIGNAL_GUESTS_CHANGED], 0, self->guests);
}

/* Republishes the last known domains with the connection state changed. */
static void
publish_state (SpLibvirt *self)
{
  SpGuests *g = sp_guests_new ();

  for (guint i = 0; i < self->guests->domains->len; i++)
    g_ptr_array_add (g->domains,
                     sp_domain_info_copy (g_ptr_array_index (self->guests->domains, i)));
  g->uri = g_strdup (sp_libvirt_link_get_uri (self->link));
  g->connected = sp_libvirt_link_is_connected (self->link);
  g->status = g_strdup (sp_libvirt_link_get_status (self->link));
  g->refreshed_us = self->guests->refreshed_us;
  g->refresh_serial = self->guests->refresh_serial;
  sp_guests_finish (g);
  publish (self, g);
}

static void
on_subscribed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;

  /* cancelled: replaced by a newer subscription, or self is gone */
  if (!sp_libvirt_events_subscribe_finish (SP_LIBVIRT_EVENTS (source), result, &error))
    return;
  /* events flow now: a full refresh misses nothing that happened before */
  sp_guest_query_queue_full (SP_LIBVIRT (user_data)->query);
}

static void
on_connected (SpLibvirtLink *link, gboolean switched, gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (user_data);
  g_autoptr (virConnect) conn = sp_libvirt_link_ref_connection (link);

  sp_libvirt_events_subscribe_async (self->events, conn, self->cancellable, on_subscribed, self);
  if (switched)
    publish_state (self);
}

static void
on_disconnected (SpLibvirtLink *link, gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (user_data);

  sp_libvirt_events_unsubscribe (self->events);
  publish_state (self);
}

static void
on_domain_changed (SpLibvirtEvents *events, const char *uuid, const char *what, gpointer user_data)
{
  SpLibvirt *self = SP_LIBVIRT (user_data);

  if (uuid != NULL)
    sp_guest_query_queue_domain (self->query, uuid);
  else
    sp_guest_query_queue_full (self->query);
}

static void
on_refreshed (SpGuestQuery *query, SpGuests *guests, gpointer user_data)
{
  publish (SP_LIBVIRT (user_data), sp_guests_ref (guests));
}

/* ---- object ------------------------------------------------------------ */

static void
sp_libvirt_dispose (GObject *object)
{
  SpLibvirt *self = SP_LIBVIRT (object);

  g_cancellable_cancel (self->cancellable);
  if (self->link != NULL)
    g_signal_handlers_disconnect_by_data (self->link, self);
  if (self->events != NULL)
    g_signal_handlers_disconnect_by_data (self->events, self);
  if (self->query != NULL)
    g_signal_handlers_disconnect_by_data (self->query, self);
  g_clear_object (&self->query);
  g_clear_object (&self->events);
  g_clear_object (&self->link);
  G_OBJECT_CLASS (sp_libvirt_parent_class)->dispose (object);
}

static void
sp_libvirt_finalize (GObject *object)
{
  SpLibvirt *self = SP_LIBVIRT (object);

  g_clear_pointer (&self->guests, sp_guests_unref);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (sp_libvirt_parent_class)->finalize (object);
}

static void
sp_libvirt_class_init (SpLibvirtClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_libvirt_dispose;
  object_class->finalize = sp_libvirt_finalize;

  /**
   * SpLibvirt::guests-changed:
   * @guests: (type gpointer): the new SpGuests
   */
  signals[SIGNAL_GUESTS_CHANGED] =
      g_signal_new ("guests-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
sp_libvirt_init (SpLibvirt *self)
{
  self->guests = sp_guests_new ();
  self->cancellable = g_cancellable_new ();
}

SpLibvirt *
sp_libvirt_new (const char *uri, const char *procfs_root, const char *pid_dir)
{
  SpLibvirt *self = g_object_new (SP_TYPE_LIBVIRT, NULL);

  self->link = sp_libvirt_link_new (uri);
  self->events = sp_libvirt_events_new ();
  self->query = sp_guest_query_new (self->link, procfs_root, pid_dir);
  g_signal_connect (self->link, "connected", G_CALLBACK (on_connected), self);
  g_signal_connect (self->link, "disconnected", G_CALLBACK (on_disconnected), self);
  g_signal_connect (self->events, "domain-changed", G_CALLBACK (on_domain_changed), self);
  g_signal_connect (self->query, "refreshed", G_CALLBACK (on_refreshed), self);
  return self;
}

void
sp_libvirt_set_qemu_facts_always (SpLibvirt *self, gboolean always)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  sp_guest_query_set_qemu_facts_always (self->query, always);
}

void
sp_libvirt_start (SpLibvirt *self)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  sp_libvirt_link_start (self->link);
}

void
sp_libvirt_queue_refresh (SpLibvirt *self)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  sp_guest_query_queue_full (self->query);
}

void
sp_libvirt_queue_refresh_domain (SpLibvirt *self, const char *uuid)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  sp_guest_query_queue_domain (self->query, uuid);
}

void
sp_libvirt_resync (SpLibvirt *self, const char *why)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  g_debug ("Resyncing the domain list: %s", why);
  sp_guest_query_queue_full (self->query);
}

void
sp_libvirt_set_resync_interval (SpLibvirt *self, guint seconds)
{
  g_return_if_fail (SP_IS_LIBVIRT (self));
  sp_guest_query_set_resync_interval (self->query, seconds);
}

guint64
sp_libvirt_get_next_refresh_serial (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), 0);
  return sp_guest_query_get_next_serial (self->query);
}

/* ---- waiting for a refresh ------------------------------------------- */

typedef struct {
  guint64 serial; /* the first refresh_serial that counts */
  gulong handler_id;
  guint timeout_id;
  guint timeout_s;
  char *what;
} RefreshWait;

static void
refresh_wait_stop (RefreshWait *wait, SpLibvirt *libvirt)
{
  g_clear_signal_handler (&wait->handler_id, libvirt);
  g_clear_handle_id (&wait->timeout_id, g_source_remove);
}

static void
refresh_wait_free (RefreshWait *wait)
{
  g_assert (wait->handler_id == 0 && wait->timeout_id == 0);
  g_free (wait->what);
  g_free (wait);
}

/* Ends the wait: the handler and the timeout held the task's reference. */
static void
refresh_wait_done (GTask *task)
{
  refresh_wait_stop (g_task_get_task_data (task), g_task_get_source_object (task));
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
on_wait_guests_changed (SpLibvirt *libvirt, SpGuests *guests, gpointer user_data)
{
  RefreshWait *wait = g_task_get_task_data (G_TASK (user_data));

  /* a refresh that started before the change, a /proc update or a change
   * of the connection: not yet */
  if (guests->refresh_serial < wait->serial)
    return;
  refresh_wait_done (G_TASK (user_data));
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  RefreshWait *wait = g_task_get_task_data (G_TASK (user_data));

  wait->timeout_id = 0;
  g_debug ("No domain refresh within %u s after %s; replying anyway", wait->timeout_s, wait->what);
  refresh_wait_done (G_TASK (user_data));
  return G_SOURCE_REMOVE;
}

void
sp_libvirt_wait_refreshed_async (SpLibvirt *self, guint64 serial, guint timeout_s, const char *what,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  RefreshWait *wait;

  g_return_if_fail (SP_IS_LIBVIRT (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, sp_libvirt_wait_refreshed_async);
  wait = g_new0 (RefreshWait, 1);
  wait->serial = serial;
  wait->timeout_s = timeout_s;
  wait->what = g_strdup (what);
  g_task_set_task_data (task, wait, (GDestroyNotify) refresh_wait_free);
  /* the reference of task goes to whichever comes first */
  wait->handler_id =
      g_signal_connect (self, "guests-changed", G_CALLBACK (on_wait_guests_changed), task);
  wait->timeout_id = g_timeout_add_seconds (timeout_s, on_wait_timeout, task);
}

void
sp_libvirt_wait_refreshed_finish (SpLibvirt *self, GAsyncResult *result)
{
  g_return_if_fail (g_task_is_valid (result, self));
  g_task_propagate_boolean (G_TASK (result), NULL);
}

SpGuests *
sp_libvirt_get_guests (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), NULL);
  return self->guests;
}

virConnectPtr
sp_libvirt_ref_connection (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), NULL);
  return sp_libvirt_link_ref_connection (self->link);
}

guint64
sp_libvirt_get_n_events (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), 0);
  return sp_libvirt_events_get_n_events (self->events);
}

guint64
sp_libvirt_get_n_refreshes (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), 0);
  return sp_guest_query_get_n_refreshes (self->query);
}

guint64
sp_libvirt_get_n_queried (SpLibvirt *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT (self), 0);
  return sp_guest_query_get_n_queried (self->query);
}
