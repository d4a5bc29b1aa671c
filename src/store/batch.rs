//! Group commit for SQLite: concurrent small writes share one transaction and one fsync.
//!
//! With `synchronous = FULL` every SQLite commit waits for the WAL to reach
//! the disk, and all of a process's writes go through one connection, so a
//! commit per PUT caps a whole server at one fsync per request. Here writes
//! queue for a single writer task; whatever has queued while the previous
//! batch was committing runs as the next batch, each job inside its own
//! SAVEPOINT so a job that fails (a failed `If-Match`, a UID conflict) is
//! rolled back alone. Nobody is answered before the COMMIT that holds their
//! write has returned, so an acknowledged write is exactly as durable as
//! before; under no concurrency a batch is one job and nothing changes.
//!
//! PostgreSQL needs none of this: concurrent commits already share a WAL
//! flush there, and several processes may write at once.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};

/// The most jobs one transaction takes; bounds how long the write lock is
/// held and how much one failed COMMIT can take down with it.
const MAX_BATCH: usize = 64;

type Output = Box<dyn Any + Send>;
type Work = Box<
    dyn for<'c> FnOnce(&'c mut SqliteConnection) -> Pin<Box<dyn Future<Output = StoreResult<Output>> + Send + 'c>>
        + Send,
>;

struct Job {
    work: Work,
    reply: oneshot::Sender<StoreResult<Output>>,
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub(crate) struct Batcher {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl Batcher {
    /// Starts the writer task on the current runtime. It ends when every
    /// handle is dropped.
    pub(crate) fn start(pool: SqlitePool) -> Batcher {
        let (queue, jobs) = mpsc::channel(1024);
        tokio::spawn(run(pool, jobs));
        Batcher { queue }
    }

    /// Runs `work` inside a write transaction shared with other jobs and
    /// returns its result once that transaction is durable. `work` must do
    /// all its reads and writes on the connection it is given.
    pub(crate) async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'c>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work: Work =
            Box::new(move |conn| Box::pin(async move { work(conn).await.map(|value| Box::new(value) as Output) }));
        self.queue
            .send(Job { work, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        let value = answer
            .await
            .map_err(|_| StoreError::Internal("the database writer dropped a write without an answer".into()))??;
        value.downcast::<T>().map(|v| *v).map_err(|_| StoreError::Internal("write result of the wrong type".into()))
    }
}

async fn run(pool: SqlitePool, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let started = std::time::Instant::now();
        // A panic inside one batch must not stop every later write: the
        // batch's callers see their answer dropped, the loop carries on.
        if let Err(e) = tokio::spawn(commit_batch(pool.clone(), batch)).await {
            tracing::error!(error = %e, jobs = size, "a write batch panicked");
        }
        metrics::histogram!("madang_store_write_batch_size").record(size as f64);
        // Whether the one writer keeps up: a batch is every queued write's wait for the next.
        metrics::histogram!("madang_store_write_batch_seconds").record(started.elapsed().as_secs_f64());
    }
}

async fn commit_batch(pool: SqlitePool, batch: Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return fail_all(batch, StoreError::from(e)),
    };
    if let Err(e) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return fail_all(batch, StoreError::from(e));
    }
    let mut done: Vec<(oneshot::Sender<StoreResult<Output>>, StoreResult<Output>)> = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for job in batch {
        if broken.is_some() {
            done.push((job.reply, Err(StoreError::Unavailable("an earlier write in its batch failed".into()))));
            continue;
        }
        if let Err(e) = sqlx::raw_sql("SAVEPOINT job").execute(&mut *conn).await {
            broken = Some(StoreError::from(e));
            done.push((job.reply, Err(StoreError::Unavailable("could not start the write".into()))));
            continue;
        }
        let result = (job.work)(&mut conn).await;
        let end = if result.is_ok() { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        if let Err(e) = sqlx::raw_sql(end).execute(&mut *conn).await {
            broken = Some(StoreError::from(e));
        }
        done.push((job.reply, result));
    }
    let committed = match broken {
        Some(e) => Err(e),
        None => sqlx::raw_sql("COMMIT").execute(&mut *conn).await.map(drop).map_err(StoreError::from),
    };
    if let Err(e) = committed {
        tracing::error!(error = %e, "write batch not committed");
        // Leave the connection usable for the next batch.
        if let Err(rollback) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
            tracing::warn!(error = %rollback, "rollback after a failed batch");
            conn.close_on_drop();
        }
        for (reply, result) in done {
            let _ = reply.send(result.and(Err(e.clone())));
        }
        return;
    }
    for (reply, result) in done {
        // The caller may have gone (client disconnected); the write stands.
        let _ = reply.send(result);
    }
}

fn fail_all(batch: Vec<Job>, error: StoreError) {
    for job in batch {
        let _ = job.reply.send(Err(error.clone()));
    }
}
