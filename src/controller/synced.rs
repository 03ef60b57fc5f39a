//! Whether a watch's cache has been filled: each controller's runner waits for its own cache
//! only, while the other kind's fills on its own schedule, and read before that it is empty. A
//! link would see its instances "not found" (a false Stalled condition and Warning event after
//! each restart), and an instance being deleted would see no link using it and drop its in-use
//! finalizer while links still need it to delete their ends.
//!
//! Not `Store::wait_until_ready`: its one-shot channel keeps a single waker, so a second waiter
//! (a reconcile) takes the wake-up from the first (the controller's runner), and one of them
//! sleeps until polled for another reason.

use std::time::Duration;

use futures::Stream;
use kube::runtime::watcher;

use crate::errors::Error;

/// How long a pass waits for the other kind's cache before it gives up and is retried.
const WAIT: Duration = Duration::from_secs(30);

/// Read side: waits until the cache holds the watch's first complete listing.
#[derive(Clone, Debug)]
pub(crate) struct Synced(tokio::sync::watch::Receiver<bool>);

/// Write side, set once the listing is in the cache.
pub(crate) struct MarkSynced(tokio::sync::watch::Sender<bool>);

pub(crate) fn pending() -> (MarkSynced, Synced) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (MarkSynced(tx), Synced(rx))
}

impl Synced {
    /// Already filled (caches given whole: tests, the `plan` command).
    pub(crate) fn ready() -> Synced {
        let (tx, rx) = tokio::sync::watch::channel(true);
        drop(tx);
        Synced(rx)
    }

    pub(crate) async fn wait(&self, kind: &'static str) -> Result<(), Error> {
        let mut rx = self.0.clone();
        match tokio::time::timeout(WAIT, rx.wait_for(|filled| *filled)).await {
            Ok(Ok(_)) => Ok(()),
            // The watch is gone (shutdown) or still listing: retried later.
            Ok(Err(_)) | Err(_) => Err(Error::CacheNotSynced { kind }),
        }
    }
}

impl MarkSynced {
    /// Marks a cache that will never be filled as filled: its kind is not served (an older CRD
    /// set), so there is nothing in it to wait for.
    pub(crate) fn empty_for_good(self) {
        self.0.send_replace(true);
    }

    /// Marks the cache filled at the first `InitDone` that passes: put this after the
    /// reflector in the stream, so the cache already holds the listing.
    pub(crate) fn on_init_done<K, S>(self, stream: S) -> impl Stream<Item = S::Item>
    where
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    {
        use futures::StreamExt;
        stream.inspect(move |ev| {
            if matches!(ev, Ok(watcher::Event::InitDone)) {
                self.0.send_replace(true);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several waiters are all woken (the reason for not using the store's own signal).
    #[tokio::test(start_paused = true)]
    async fn every_waiter_is_woken_when_filled() {
        let (mark, synced) = pending();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = synced.clone();
                tokio::spawn(async move { s.wait("ApplicationInstance").await })
            })
            .collect();
        tokio::task::yield_now().await;
        mark.0.send_replace(true);
        for w in waiters {
            assert!(w.await.expect("no panic").is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_wait() {
        let (_mark, synced) = pending();
        let err = synced
            .wait("ApplicationLink")
            .await
            .expect_err("never filled");
        assert_eq!(err.reason(), "CacheNotSynced");
    }
}
