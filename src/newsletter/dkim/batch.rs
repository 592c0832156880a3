//! Signing threads that gather digests from the sending tasks into batches for [`ifma::Key`].
//!
//! A sending task hands in a digest and awaits its signature. A thread signs as soon as it has [`ifma::BATCH`]
//! digests, or as many as there are registered producers (sending tasks), or when the oldest has waited
//! [`MAX_WAIT`]: a campaign of thousands fills every batch, a test send or the end of a campaign waits at most that.
//! One thread per core: signing is most of the work of a signed campaign.

use super::ifma;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The longest a digest waits for others to fill its batch.
const MAX_WAIT: Duration = Duration::from_micros(1500);

pub struct Batcher {
    shared: Arc<Shared>,
}

struct Shared {
    key: ifma::Key,
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    producers: usize,
    closed: bool,
}

impl State {
    /// Batch size worth waiting for.
    fn wanted(&self) -> usize {
        self.producers.clamp(1, ifma::BATCH)
    }
}

struct Job {
    digest: [u8; 32],
    since: Instant,
    reply: oneshot::Sender<Option<[u8; 256]>>,
}

/// A sending task, counted while it lives (see [`Batcher::producer`]).
pub struct Producer {
    shared: Arc<Shared>,
}

impl Drop for Producer {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.producers -= 1;
        // Fewer producers may mean that the waiting digests are now a full batch.
        self.shared.ready.notify_all();
    }
}

impl Batcher {
    pub fn new(key: ifma::Key) -> Batcher {
        let shared = Arc::new(Shared { key, state: Mutex::new(State::default()), ready: Condvar::new() });
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        for i in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("dkim-{i}"))
                .spawn(move || shared.run())
                .expect("cannot start a DKIM signing thread");
        }
        Batcher { shared }
    }

    /// Registers a task that will hand in digests one after the other, so that batches wait for it.
    pub fn producer(&self) -> Producer {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner).producers += 1;
        Producer { shared: self.shared.clone() }
    }

    /// The PKCS#1 v1.5 signature of a SHA-256 digest; None if it could not be made here (the caller then signs
    /// another way).
    pub async fn sign(&self, digest: [u8; 32]) -> Option<[u8; 256]> {
        let (reply, answer) = oneshot::channel();
        {
            let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.queue.push_back(Job { digest, since: Instant::now(), reply });
            let len = state.queue.len();
            // Wake a thread when a batch is full, or to start the clock of a first digest.
            if len == 1 || len.is_multiple_of(state.wanted()) {
                self.shared.ready.notify_one();
            }
        }
        answer.await.ok().flatten()
    }

    /// Signs directly, without waiting for others (a batch of one).
    pub fn sign_now(&self, digest: [u8; 32]) -> Option<[u8; 256]> {
        let mut blinding = self.shared.key.blinding();
        self.shared.key.sign(&mut blinding, &[digest]).pop().flatten()
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn run(&self) {
        let mut blinding = self.key.blinding();
        while let Some(jobs) = self.take() {
            let digests: Vec<[u8; 32]> = jobs.iter().map(|j| j.digest).collect();
            let signed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.key.sign(&mut blinding, &digests)));
            let signatures = signed.unwrap_or_else(|_| {
                tracing::error!("batch DKIM signing panicked; these messages are signed one by one");
                blinding = self.key.blinding();
                vec![None; jobs.len()]
            });
            for (job, signature) in jobs.into_iter().zip(signatures) {
                if signature.is_none() {
                    tracing::error!("a batch DKIM signature did not verify; signed one by one instead");
                }
                let _ = job.reply.send(signature);
            }
        }
    }

    /// Waits for a batch; None once the batcher is dropped and nothing is left.
    fn take(&self) -> Option<Vec<Job>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.queue.len() >= state.wanted() || (state.closed && !state.queue.is_empty()) {
                break;
            }
            if state.closed {
                return None;
            }
            state = match state.queue.front() {
                Some(job) => {
                    let waited = job.since.elapsed();
                    if waited >= MAX_WAIT {
                        break;
                    }
                    self.ready.wait_timeout(state, MAX_WAIT - waited).unwrap_or_else(PoisonError::into_inner).0
                }
                None => self.ready.wait(state).unwrap_or_else(PoisonError::into_inner),
            };
        }
        let n = state.queue.len().min(ifma::BATCH);
        let jobs: Vec<Job> = state.queue.drain(..n).collect();
        if !state.queue.is_empty() {
            self.ready.notify_one();
        }
        Some(jobs)
    }
}
