//! Log lines written in batches by one thread.
//!
//! Every thread appends its formatted line to one shared buffer (a `memcpy` under an
//! uncontended lock: nobody is woken); a writer thread (`fastvue-log`) takes the buffer
//! every [`EVERY`] and writes it to the output in one call. Measured against a channel
//! per line (`tracing-appender`, which wakes its writer for nearly every line and writes
//! a few lines per system call), this cut the log's share of a cached authenticated
//! request from about 16 % of the server's CPU to under 2 % (docs/performance.md).
//!
//! Bounds: at most [`PENDING`] bytes wait. A line that would pass it makes its own
//! thread write out what is waiting first (back-pressure: a stalled output slows the
//! server, it never grows its memory and never drops a line). Lines keep their order:
//! every write to the output happens under one lock, and a batch is taken from the
//! buffer under it.
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait before the writer thread writes it.
pub const EVERY: Duration = Duration::from_millis(20);
/// Bytes that may wait; past it the logging thread writes them out itself.
pub const PENDING: usize = 4 * 1024 * 1024;

/// What the threads share.
struct Shared<W> {
    /// Lines waiting.
    pending: Mutex<Vec<u8>>,
    /// The output; held while a batch is written, so batches leave in order.
    out: Mutex<W>,
    /// Set (and notified) to end the writer thread.
    stop: Mutex<bool>,
    wake: Condvar,
    /// The writer thread has ended: every line is written out as it comes.
    finished: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<W: Write> Shared<W> {
    /// Writes out every waiting line, `spare` being an empty buffer to swap in.
    fn write_out(&self, spare: &mut Vec<u8>) {
        let mut out = lock(&self.out);
        std::mem::swap(&mut *lock(&self.pending), spare);
        if !spare.is_empty() {
            // A log line that cannot be written has nowhere else to go.
            let _ = out.write_all(spare).and_then(|()| out.flush());
            spare.clear();
        }
    }
}

/// The writer the subscriber formats into (cheap to clone: one `Arc`).
pub struct BatchWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> std::fmt::Debug for BatchWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchWriter").finish_non_exhaustive()
    }
}

impl<W> Clone for BatchWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<W: Write> Write for BatchWriter<W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = lock(&self.shared.pending);
        if pending.len() + line.len() > PENDING && !pending.is_empty() {
            drop(pending);
            self.shared.write_out(&mut Vec::new());
            pending = lock(&self.shared.pending);
        }
        pending.extend_from_slice(line);
        drop(pending);
        if self.shared.finished.load(Ordering::Acquire) {
            self.shared.write_out(&mut Vec::new());
        }
        Ok(line.len())
    }

    /// Lines leave with the next batch; [`Batches::finish`] writes out the rest.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + Send + 'static> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter<W> {
    type Writer = BatchWriter<W>;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The writer thread; [`Batches::finish`] writes out what waits and ends it.
pub struct Batches<W> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W> std::fmt::Debug for Batches<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> Batches<W> {
    /// Starts the writer thread over `out`; lines go to the returned writer.
    pub fn start(out: W) -> io::Result<(Self, BatchWriter<W>)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            out: Mutex::new(out),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            finished: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fastvue-log".into())
                .spawn(move || {
                    let mut spare = Vec::with_capacity(64 * 1024);
                    loop {
                        let stop = lock(&shared.stop);
                        let (stop, _) = shared
                            .wake
                            .wait_timeout_while(stop, EVERY, |stop| !*stop)
                            .unwrap_or_else(|e| e.into_inner());
                        let stopping = *stop;
                        drop(stop);
                        shared.write_out(&mut spare);
                        if stopping {
                            return;
                        }
                    }
                })?
        };
        let writer = BatchWriter {
            shared: Arc::clone(&shared),
        };
        Ok((
            Self {
                shared,
                thread: Some(thread),
            },
            writer,
        ))
    }

    /// Writes out every waiting line and stops the writer thread; lines logged later
    /// are written as they come, by the thread that logs them.
    pub fn finish(&mut self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.finished.store(true, Ordering::Release);
        self.shared.write_out(&mut Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records what reaches it, call by call.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn text(&self) -> String {
            String::from_utf8(lock(&self.0).concat()).unwrap()
        }
        fn writes(&self) -> usize {
            lock(&self.0).len()
        }
    }

    #[test]
    fn lines_leave_in_order_in_few_writes_within_the_interval() {
        let out = Recorder::default();
        let (mut batches, writer) = Batches::start(out.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        std::thread::sleep(EVERY * 5);
        let text = out.text();
        assert_eq!(text.lines().count(), 4000, "every line, without finish");
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..1000).collect::<Vec<_>>(), "thread {t} in order");
        }
        assert!(out.writes() < 100, "{} writes for 4000 lines", out.writes());
        batches.finish();
    }

    #[test]
    fn finish_writes_out_what_waits() {
        let out = Recorder::default();
        let (mut batches, mut writer) = Batches::start(out.clone()).unwrap();
        writer.write_all(b"last words\n").unwrap();
        batches.finish();
        assert_eq!(out.text(), "last words\n");
        writer.write_all(b"after the end\n").unwrap();
        assert_eq!(out.text(), "last words\nafter the end\n", "written at once");
    }

    #[test]
    fn past_the_bound_the_logging_thread_writes_out_itself() {
        let out = Recorder::default();
        let (mut batches, mut writer) = Batches::start(out.clone()).unwrap();
        let line = vec![b'x'; PENDING / 2 + 1];
        writer.write_all(&line).unwrap();
        writer.write_all(&line).unwrap();
        // The second line did not fit next to the first: the first is out already,
        // whatever the writer thread's timing.
        assert!(out.text().len() >= line.len());
        assert!(lock(&writer.shared.pending).len() <= PENDING);
        batches.finish();
        assert_eq!(out.text().len(), 2 * line.len());
    }
}
