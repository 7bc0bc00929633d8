/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-libvirt-events.h"

#include <libvirt/virterror.h>

#include "sp-log.h"

/*
 * The callbacks of one connection. Registering and deregistering run in a
 * worker thread, one at a time and in order (libvirt refuses a callback
 * already registered on a connection, so re-subscribing a connection must
 * follow the deregistration of its last subscription); the callbacks run on the main loop and reach
 * the SpLibvirtEvents through owner, which only the main thread sets (once the registrations are
 * complete) and clears (when the subscription is dropped). Each callback holds a reference, dropped
 * by libvirt's freecb.
 */
typedef struct {
  SpLibvirtEvents *owner; /* NULL until adopted, and once dropped */
  virConnectPtr conn;     /* our own reference */
  GArray *callback_ids;
} Subscription;

struct _SpLibvirtEvents {
  GObject parent_instance;

  GThreadPool *rpcs;     /* Op*, one at a time, in order */
  Subscription *pending; /* registering in a worker */
  Subscription *current; /* registered, delivering events */
  guint64 n_events;
};

enum {
  SIGNAL_DOMAIN_CHANGED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpLibvirtEvents, sp_libvirt_events, G_TYPE_OBJECT)

static Subscription *
subscription_ref (Subscription *sub)
{
  return g_atomic_rc_box_acquire (sub);
}

static void
subscription_clear (Subscription *sub)
{
  virConnectClose (sub->conn);
  g_array_unref (sub->callback_ids);
}

static void
subscription_unref (gpointer sub)
{
  g_atomic_rc_box_release_full (sub, (GDestroyNotify) subscription_clear);
}

/* ---- callbacks (main thread): translate and emit ---------------------- */

static void
domain_event (Subscription *sub, virDomainPtr dom, const char *what)
{
  SpLibvirtEvents *self = sub->owner;
  char buf[VIR_UUID_STRING_BUFLEN];
  const char *uuid;

  if (self == NULL)
    return;
  self->n_events++;
  uuid = virDomainGetUUIDString (dom, buf) == 0 ? buf : NULL;
  sp_log_domain (G_LOG_LEVEL_DEBUG, virDomainGetName (dom), uuid, "libvirt event: domain %s %s",
                 virDomainGetName (dom), what);
  g_signal_emit (self, signals[SIGNAL_DOMAIN_CHANGED], 0, uuid, what);
}

static const char *
lifecycle_name (int event)
{
  switch (event)
    {
    case VIR_DOMAIN_EVENT_DEFINED:
      return "defined";
    case VIR_DOMAIN_EVENT_UNDEFINED:
      return "undefined";
    case VIR_DOMAIN_EVENT_STARTED:
      return "started";
    case VIR_DOMAIN_EVENT_SUSPENDED:
      return "suspended";
    case VIR_DOMAIN_EVENT_RESUMED:
      return "resumed";
    case VIR_DOMAIN_EVENT_STOPPED:
      return "stopped";
    case VIR_DOMAIN_EVENT_SHUTDOWN:
      return "shutdown";
    case VIR_DOMAIN_EVENT_PMSUSPENDED:
      return "pmsuspended";
    case VIR_DOMAIN_EVENT_CRASHED:
      return "crashed";
    default:
      return "lifecycle";
    }
}

static int
on_lifecycle (virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  domain_event (opaque, dom, lifecycle_name (event));
  return 0;
}

static void
on_balloon_change (virConnectPtr conn, virDomainPtr dom, unsigned long long actual, void *opaque)
{
  domain_event (opaque, dom, "balloon-change");
}

static void
on_device_added (virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
  domain_event (opaque, dom, "device-added");
}

static void
on_device_removed (virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
  domain_event (opaque, dom, "device-removed");
}

static void
on_metadata_change (virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque)
{
  domain_event (opaque, dom, "metadata-change");
}

static void
on_memory_device_size_change (virConnectPtr conn, virDomainPtr dom, const char *alias,
                              unsigned long long size, void *opaque)
{
  domain_event (opaque, dom, "memory-device-size-change");
}

static const struct {
  int id;
  virConnectDomainEventGenericCallback callback;
  const char *name;
} domain_events[] = {
  { VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle), "lifecycle" },
  { VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE, VIR_DOMAIN_EVENT_CALLBACK (on_balloon_change),
    "balloon-change" },
  { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK (on_device_added), "device-added" },
  { VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK (on_device_removed),
    "device-removed" },
  { VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, VIR_DOMAIN_EVENT_CALLBACK (on_metadata_change),
    "metadata-change" },
#if LIBVIR_CHECK_VERSION(7, 9, 0)
  { VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE,
    VIR_DOMAIN_EVENT_CALLBACK (on_memory_device_size_change), "memory-device-size-change" },
#endif
};

/* ---- registering and deregistering (worker thread) -------------------- */

typedef struct {
  gboolean deregister;
  Subscription *sub;
  GTask *task; /* returned when done (registering only) */
} Op;

static void
register_callbacks (Subscription *sub)
{
  for (gsize i = 0; i < G_N_ELEMENTS (domain_events); i++)
    {
      int id = virConnectDomainEventRegisterAny (sub->conn, NULL, domain_events[i].id,
                                                 domain_events[i].callback, subscription_ref (sub),
                                                 subscription_unref);
      if (id < 0)
        {
          g_debug ("This libvirt has no %s events: %s", domain_events[i].name,
                   virGetLastErrorMessage ());
          subscription_unref (sub);
          continue;
        }
      g_array_append_val (sub->callback_ids, id);
    }
}

static void
deregister_callbacks (Subscription *sub)
{
  for (guint i = 0; i < sub->callback_ids->len; i++)
    virConnectDomainEventDeregisterAny (sub->conn, g_array_index (sub->callback_ids, int, i));
  g_array_set_size (sub->callback_ids, 0);
}

/* The worker: uses nothing but the Op, which it frees. */
static void
run_op (gpointer data, gpointer pool_data)
{
  Op *op = data;

  if (op->deregister)
    deregister_callbacks (op->sub);
  else
    register_callbacks (op->sub);
  if (op->task != NULL)
    {
      g_task_return_boolean (op->task, TRUE);
      g_object_unref (op->task);
    }
  subscription_unref (op->sub);
  g_free (op);
}

/* Takes sub and task. */
static void
push_op (SpLibvirtEvents *self, gboolean deregister, Subscription *sub, GTask *task)
{
  g_autoptr (GError) error = NULL;
  Op *op = g_new0 (Op, 1);

  op->deregister = deregister;
  op->sub = sub;
  op->task = task;
  /* queued even when no thread could be started now */
  if (!g_thread_pool_push (self->rpcs, op, &error))
    g_warning ("Cannot start a thread for libvirt's event callbacks: %s", error->message);
}

/* Takes the reference of sub: its callbacks go off in the worker. */
static void
deregister (SpLibvirtEvents *self, Subscription *sub)
{
  sub->owner = NULL;
  push_op (self, TRUE, sub, NULL);
}

static void
register_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpLibvirtEvents *self = SP_LIBVIRT_EVENTS (source);
  g_autoptr (GTask) outer = user_data;
  Subscription *sub = g_task_get_task_data (G_TASK (result));

  if (self->pending != sub)
    {
      /* dropped or replaced meanwhile: its deregistration is queued */
      g_task_return_new_error (outer, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "The subscription was dropped");
      return;
    }
  self->current = g_steal_pointer (&self->pending);
  self->current->owner = self;
  g_task_return_boolean (outer, TRUE);
}

/* ---- API ---------------------------------------------------------------- */

void
sp_libvirt_events_unsubscribe (SpLibvirtEvents *self)
{
  g_return_if_fail (SP_IS_LIBVIRT_EVENTS (self));

  /* a pending one is deregistered right after its registrations: the
   * worker takes them in order */
  if (self->pending != NULL)
    deregister (self, g_steal_pointer (&self->pending));
  if (self->current != NULL)
    deregister (self, g_steal_pointer (&self->current));
}

void
sp_libvirt_events_subscribe_async (SpLibvirtEvents *self, virConnectPtr conn,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  GTask *outer;
  GTask *task;
  Subscription *sub;

  g_return_if_fail (SP_IS_LIBVIRT_EVENTS (self));
  g_return_if_fail (conn != NULL);

  sp_libvirt_events_unsubscribe (self);
  sub = g_atomic_rc_box_new0 (Subscription);
  sub->conn = conn;
  virConnectRef (conn);
  sub->callback_ids = g_array_new (FALSE, FALSE, sizeof (int));
  self->pending = sub;

  outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, sp_libvirt_events_subscribe_async);
  task = g_task_new (self, NULL, register_done, outer);
  g_task_set_task_data (task, subscription_ref (sub), subscription_unref);
  push_op (self, FALSE, subscription_ref (sub), task);
}

gboolean
sp_libvirt_events_subscribe_finish (SpLibvirtEvents *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
sp_libvirt_events_is_subscribed (SpLibvirtEvents *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT_EVENTS (self), FALSE);
  return self->current != NULL;
}

guint64
sp_libvirt_events_get_n_events (SpLibvirtEvents *self)
{
  g_return_val_if_fail (SP_IS_LIBVIRT_EVENTS (self), 0);
  return self->n_events;
}

/* ---- object ------------------------------------------------------------ */

static void
sp_libvirt_events_dispose (GObject *object)
{
  sp_libvirt_events_unsubscribe (SP_LIBVIRT_EVENTS (object));
  G_OBJECT_CLASS (sp_libvirt_events_parent_class)->dispose (object);
}

static void
sp_libvirt_events_finalize (GObject *object)
{
  SpLibvirtEvents *self = SP_LIBVIRT_EVENTS (object);

  /* deregistrations still queued run on; the worker needs nothing of self */
  g_thread_pool_free (self->rpcs, FALSE, FALSE);
  G_OBJECT_CLASS (sp_libvirt_events_parent_class)->finalize (object);
}

static void
sp_libvirt_events_class_init (SpLibvirtEventsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_libvirt_events_dispose;
  object_class->finalize = sp_libvirt_events_finalize;

  /**
   * SpLibvirtEvents::domain-changed:
   * @uuid: (nullable): the domain's UUID
   * @what: the event
   */
  signals[SIGNAL_DOMAIN_CHANGED] =
      g_signal_new ("domain-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
sp_libvirt_events_init (SpLibvirtEvents *self)
{
  /* a shared thread, one at a time: cannot fail */
  self->rpcs = g_thread_pool_new (run_op, NULL, 1, FALSE, NULL);
}

SpLibvirtEvents *
sp_libvirt_events_new (void)
{
  return g_object_new (SP_TYPE_LIBVIRT_EVENTS, NULL);
}
