//! One watch of a kind feeding several controllers, without kube-runtime's shared stream.
//!
//! Why not `reflector::store_shared` and `Writer::subscribe`: a subscriber receives object
//! references and looks each one up in the store when read. When the object was deleted in the
//! meantime (an update that removes the last finalizer arrives together with the deletion),
//! the lookup misses and the subscriber answers `Pending` without having registered a waker.
//! Inside a controller's trigger selector that stream is then never polled again; its
//! broadcast buffer fills, the watch that feeds every subscriber waits for room forever, and
//! from then on no instance change reaches any controller, silently (see
//! `lost_wakeup_in_kube_runtime_shared_stream` below).
//!
//! Here each subscriber has a queue holding the newest version of each changed object, in the
//! order of first change: the watch never waits for a reader, a queue holds at most one entry
//! per object, and a deleted object leaves every queue. The age of the oldest entry is the
//! stall signal (`/metrics`, `/readyz`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use tokio::sync::Notify;

/// The write side: publishes what a watch delivers (after its reflector) to every queue.
pub(crate) struct Fanout<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    queues: Vec<Arc<Queue<K>>>,
}

/// Pending changes of one subscriber.
pub(crate) struct Queue<K: Resource<DynamicType = ()>> {
    pending: Mutex<Pending<K>>,
    notify: Notify,
}

struct Pending<K: Resource<DynamicType = ()>> {
    /// Keys in the order of their first change since last read.
    order: VecDeque<ObjectRef<K>>,
    /// Newest version of each key, and when the key was queued.
    latest: HashMap<ObjectRef<K>, (Arc<K>, Instant)>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Fanout<K> {
    /// `store` is the reflector's store the published events were applied to.
    pub(crate) fn new(store: Store<K>) -> Self {
        Self {
            store,
            queues: Vec::new(),
        }
    }

    /// A new subscriber's queue; read it with [`Queue::stream`].
    pub(crate) fn subscribe(&mut self) -> Arc<Queue<K>> {
        let q = Arc::new(Queue {
            pending: Mutex::new(Pending {
                order: VecDeque::new(),
                latest: HashMap::new(),
            }),
            notify: Notify::new(),
        });
        self.queues.push(q.clone());
        q
    }

    /// Publishes one watch event: put this after the reflector, so the store holds the event.
    pub(crate) fn publish(&self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(obj) => {
                let obj = Arc::new(obj.clone());
                for q in &self.queues {
                    q.push(obj.clone());
                }
            }
            watcher::Event::Delete(obj) => {
                let key = ObjectRef::from_obj(obj);
                for q in &self.queues {
                    q.remove(&key);
                }
            }
            // After a (re)listing every object is news: what changed while the watch was
            // down is not known otherwise. The store holds the listing from here on.
            watcher::Event::InitDone => {
                let all = self.store.state();
                for q in &self.queues {
                    q.retain(|key| self.store.get(key).is_some());
                    for obj in &all {
                        q.push(obj.clone());
                    }
                }
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }
}

impl<K: Resource<DynamicType = ()> + 'static> Queue<K> {
    fn push(&self, obj: Arc<K>) {
        let key = ObjectRef::from_obj(&*obj);
        {
            let mut p = self.pending.lock().expect("fanout lock");
            match p.latest.get_mut(&key) {
                // Already queued: keep its place and age, deliver the newest version.
                Some(entry) => entry.0 = obj,
                None => {
                    p.latest.insert(key.clone(), (obj, Instant::now()));
                    p.order.push_back(key);
                }
            }
        }
        // A permit is stored when nobody waits, so a reader that checks and then waits misses
        // nothing.
        self.notify.notify_one();
    }

    fn remove(&self, key: &ObjectRef<K>) {
        self.retain(|k| k != key);
    }

    fn retain(&self, keep: impl Fn(&ObjectRef<K>) -> bool) {
        let mut p = self.pending.lock().expect("fanout lock");
        p.order.retain(|k| keep(k));
        p.latest.retain(|k, _| keep(k));
    }

    fn pop(&self) -> Option<Arc<K>> {
        let mut p = self.pending.lock().expect("fanout lock");
        let key = p.order.pop_front()?;
        p.latest.remove(&key).map(|(obj, _)| obj)
    }

    /// Objects waiting to be read.
    pub(crate) fn len(&self) -> usize {
        self.pending.lock().expect("fanout lock").order.len()
    }

    /// How long the oldest unread change has waited.
    pub(crate) fn oldest(&self) -> Option<Duration> {
        let p = self.pending.lock().expect("fanout lock");
        let key = p.order.front()?;
        p.latest.get(key).map(|(_, at)| at.elapsed())
    }

    /// The changed objects, oldest change first; never ends.
    pub(crate) fn stream(self: Arc<Self>) -> impl Stream<Item = Arc<K>> + Send + 'static
    where
        K: Send + Sync,
    {
        futures::stream::unfold(self, |q| async move {
            loop {
                if let Some(obj) = q.pop() {
                    return Some((obj, q));
                }
                q.notify.notified().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ApplicationInstance;
    use futures::{FutureExt, StreamExt};
    use kube::runtime::reflector;

    fn instance(name: &str, rv: &str) -> ApplicationInstance {
        super::super::fixtures::instance(
            name,
            "jira",
            "https://jira.example.com",
            serde_json::json!({"metadata": {"resourceVersion": rv}}),
        )
    }

    fn apply(
        writer: &mut reflector::store::Writer<ApplicationInstance>,
        fan: &Fanout<ApplicationInstance>,
        ev: watcher::Event<ApplicationInstance>,
    ) {
        writer.apply_watcher_event(&ev);
        fan.publish(&ev);
    }

    #[tokio::test]
    async fn every_subscriber_gets_the_newest_version_once_in_order_of_first_change() {
        let (store, mut writer) = reflector::store();
        let mut fan = Fanout::new(store);
        let a = fan.subscribe();
        let b = fan.subscribe();
        apply(&mut writer, &fan, watcher::Event::Apply(instance("x", "1")));
        apply(&mut writer, &fan, watcher::Event::Apply(instance("y", "2")));
        apply(&mut writer, &fan, watcher::Event::Apply(instance("x", "3")));
        assert_eq!(a.len(), 2, "one entry per object");
        let mut sa = a.clone().stream().boxed();
        let first = sa.next().await.unwrap();
        assert_eq!(first.metadata.name.as_deref(), Some("x"));
        assert_eq!(first.metadata.resource_version.as_deref(), Some("3"));
        assert_eq!(sa.next().await.unwrap().metadata.name.as_deref(), Some("y"));
        assert!(sa.next().now_or_never().is_none(), "nothing more");
        assert_eq!(b.len(), 2, "the other subscriber reads on its own");
    }

    /// The case kube-runtime's shared stream loses: an object changed and deleted before the
    /// subscriber read it. Here the deletion drops it, and what follows is delivered.
    #[tokio::test]
    async fn a_deleted_object_leaves_the_queue_and_later_changes_still_arrive() {
        let (store, mut writer) = reflector::store();
        let mut fan = Fanout::new(store);
        let q = fan.subscribe();
        let mut s = q.clone().stream().boxed();
        assert!(s.next().now_or_never().is_none());
        apply(&mut writer, &fan, watcher::Event::Apply(instance("x", "1")));
        apply(
            &mut writer,
            &fan,
            watcher::Event::Delete(instance("x", "1")),
        );
        assert_eq!(q.len(), 0);
        assert!(q.oldest().is_none());
        let reader = tokio::spawn(async move { s.next().await });
        tokio::task::yield_now().await;
        apply(&mut writer, &fan, watcher::Event::Apply(instance("y", "2")));
        let got = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("delivered")
            .unwrap()
            .unwrap();
        assert_eq!(got.metadata.name.as_deref(), Some("y"));
    }

    #[tokio::test]
    async fn a_relisting_delivers_every_object_and_drops_the_vanished() {
        let (store, mut writer) = reflector::store();
        let mut fan = Fanout::new(store);
        let q = fan.subscribe();
        apply(
            &mut writer,
            &fan,
            watcher::Event::Apply(instance("gone", "1")),
        );
        apply(&mut writer, &fan, watcher::Event::Init);
        apply(
            &mut writer,
            &fan,
            watcher::Event::InitApply(instance("a", "2")),
        );
        apply(
            &mut writer,
            &fan,
            watcher::Event::InitApply(instance("b", "3")),
        );
        apply(&mut writer, &fan, watcher::Event::InitDone);
        let mut names: Vec<_> = std::iter::from_fn(|| q.pop())
            .map(|o| o.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"]);
    }

    #[tokio::test]
    async fn the_age_of_the_oldest_unread_change_is_measured() {
        let (store, mut writer) = reflector::store();
        let mut fan = Fanout::new(store);
        let q = fan.subscribe();
        apply(&mut writer, &fan, watcher::Event::Apply(instance("x", "1")));
        std::thread::sleep(Duration::from_millis(20));
        apply(&mut writer, &fan, watcher::Event::Apply(instance("y", "1")));
        apply(&mut writer, &fan, watcher::Event::Apply(instance("x", "2")));
        assert!(
            q.oldest().unwrap() >= Duration::from_millis(20),
            "x's first change counts"
        );
        q.pop();
        assert!(q.oldest().unwrap() < Duration::from_millis(20));
    }

    /// The defect this module avoids, shown on kube-runtime itself: after a subscriber read the
    /// reference of an object deleted meanwhile, it is not woken for the next change.
    #[tokio::test]
    async fn lost_wakeup_in_kube_runtime_shared_stream() {
        use kube::runtime::WatchStreamExt;
        let (_store, writer) = reflector::store_shared::<ApplicationInstance>(16);
        let sub = writer.subscribe().expect("shared");
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let watch = rx.map(Ok::<_, watcher::Error>).reflect_shared(writer);
        tokio::spawn(watch.for_each(|_| async {}));
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waker = waker_fn(woken.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut sub = Box::pin(sub);
        // Changed, then deleted before the subscriber looks.
        tx.unbounded_send(watcher::Event::Apply(instance("x", "1")))
            .unwrap();
        tx.unbounded_send(watcher::Event::Delete(instance("x", "1")))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(sub.as_mut().poll_next(&mut cx).is_pending());
        tx.unbounded_send(watcher::Event::Apply(instance("y", "2")))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            woken.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "if kube-runtime wakes the subscriber now, the shared stream is safe again: see the module comment"
        );
        // Polled for another reason, it would see y: the wake-up alone was lost.
        assert!(sub.as_mut().poll_next(&mut cx).is_ready());
    }

    /// What the lost wake-up does to a controller: fed by a shared-stream subscriber, it never
    /// sees an object created after another was changed and deleted in one burst of the watch.
    /// Fed by a fan-out queue, it does.
    #[tokio::test]
    async fn a_controller_misses_later_changes_on_the_shared_stream_but_not_on_the_fanout() {
        use kube::runtime::WatchStreamExt;
        use kube::runtime::controller::{Action, Controller};
        let burst = || {
            vec![
                watcher::Event::Init,
                watcher::Event::InitDone,
                watcher::Event::Apply(instance("w", "1")),
                watcher::Event::Apply(instance("x", "1")),
                watcher::Event::Delete(instance("x", "1")),
                watcher::Event::Apply(instance("y", "2")),
            ]
        };
        type Seen = Arc<Mutex<Vec<String>>>;
        async fn record(
            obj: Arc<ApplicationInstance>,
            seen: Arc<Seen>,
        ) -> Result<Action, std::io::Error> {
            seen.lock()
                .unwrap()
                .push(obj.metadata.name.clone().unwrap());
            Ok(Action::await_change())
        }
        let run = |trigger: futures::stream::BoxStream<'static, Arc<ApplicationInstance>>,
                   store: Store<ApplicationInstance>,
                   seen: Seen| {
            Controller::for_shared_stream(trigger, store)
                .run(record, |_, _, _| Action::await_change(), Arc::new(seen))
                .for_each(|_| async {})
        };
        // The single-threaded test runtime runs the watch's whole burst before the controller
        // reads anything, as a busy controller task does.
        let shared: Seen = Arc::default();
        {
            let (store, writer) = reflector::store_shared::<ApplicationInstance>(16);
            let sub = writer.subscribe().expect("shared").boxed();
            let watch = futures::stream::iter(burst().into_iter().map(Ok::<_, watcher::Error>))
                .reflect_shared(writer)
                .for_each(|_| async {});
            let keep = tokio::spawn(watch.then(|()| futures::future::pending::<()>()));
            let ctl = tokio::spawn(run(sub, store, shared.clone()));
            tokio::time::sleep(Duration::from_millis(500)).await;
            keep.abort();
            ctl.abort();
        }
        let got = shared.lock().unwrap().clone();
        assert!(
            got.contains(&"w".to_string()),
            "the controller ran: {got:?}"
        );
        assert!(
            !got.contains(&"y".to_string()),
            "if kube-runtime's shared stream delivers y now, its lost wake-up is fixed: see the module comment"
        );
        let fanned: Seen = Arc::default();
        {
            let (store, mut writer) = reflector::store::<ApplicationInstance>();
            let mut fan = Fanout::new(store.clone());
            let q = fan.subscribe().stream().boxed();
            for ev in burst() {
                apply(&mut writer, &fan, ev);
            }
            let ctl = tokio::spawn(run(q, store, fanned.clone()));
            tokio::time::timeout(Duration::from_secs(5), async {
                while !fanned.lock().unwrap().contains(&"y".to_string()) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .expect("y reconciled");
            assert!(fanned.lock().unwrap().contains(&"w".to_string()));
            ctl.abort();
        }
    }

    fn waker_fn(count: Arc<std::sync::atomic::AtomicUsize>) -> std::task::Waker {
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        std::task::Waker::from(Arc::new(Count(count)))
    }
}
