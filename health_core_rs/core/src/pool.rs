//! A fork-safe rayon pool. Python servers fork (gunicorn, multiprocessing): a pool built in the
//! parent has no threads in the child, so every pool remembers the pid that built it and a
//! forked child builds its own.

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

/// Environment variable overriding the thread count (e.g. `HEALTHSCORE_THREADS=1`).
pub const THREADS_ENV: &str = "HEALTHSCORE_THREADS";

/// Accounts per parallel task: big enough to amortise scheduling, small enough to balance.
pub const PARALLEL_CHUNK: usize = 16_384;

/// The most threads a call may ask for: an absurd request (a caller's `threads=100000`) must not
/// spawn that many. Results never depend on the thread count, so capping is invisible.
pub const MAX_THREADS: usize = 256;

struct Built {
    pid: u32,
    threads: usize,
    pool: Arc<rayon::ThreadPool>,
}

static POOLS: Mutex<Vec<Built>> = Mutex::new(Vec::new());

/// The default thread count: `HEALTHSCORE_THREADS` if set to a positive integer, else the
/// available parallelism.
pub fn default_threads() -> usize {
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(available_parallelism)
}

/// The cores this process may use, asked once: the question reads cgroup files (~40 us), far
/// too slow to ask on every scoring call.
fn available_parallelism() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The pool with `threads` threads for this process, built on first use.
fn pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    let threads = threads.min(MAX_THREADS);
    let pid = std::process::id();
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if pools.iter().any(|b| b.pid != pid) {
        // Built by our parent before a fork: its threads do not exist here. Leak it rather than
        // run its destructor, which would try to talk to those threads.
        for b in pools.drain(..).filter(|b| b.pid != pid) {
            std::mem::forget(b.pool);
        }
    }
    if let Some(b) = pools.iter().find(|b| b.threads == threads) {
        return Some(b.pool.clone());
    }
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("healthscore-{i}"))
        .build()
        .ok()?;
    let pool = Arc::new(built);
    pools.push(Built {
        pid,
        threads,
        pool: pool.clone(),
    });
    Some(pool)
}

/// `f(start, end)` over consecutive ranges of `0..n`, in parallel on `threads` threads when the
/// batch is big enough; results in range order, so they never depend on the thread count.
pub fn map_ranges<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(usize, usize) -> T + Sync + Send,
) -> Vec<T> {
    let ranges: Vec<(usize, usize)> = (0..n.div_ceil(PARALLEL_CHUNK))
        .map(|i| (i * PARALLEL_CHUNK, ((i + 1) * PARALLEL_CHUNK).min(n)))
        .collect();
    if threads <= 1 || ranges.len() <= 1 {
        return ranges.into_iter().map(|(s, e)| f(s, e)).collect();
    }
    match pool(threads) {
        Some(p) => p.install(|| ranges.par_iter().map(|&(s, e)| f(s, e)).collect()),
        None => ranges.into_iter().map(|(s, e)| f(s, e)).collect(),
    }
}

/// `f(i)` for `i` in `0..n` (small, independent work items such as hash partitions), on
/// `threads` threads; results in item order.
pub fn map_items<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(usize) -> T + Sync + Send,
) -> Vec<T> {
    if threads <= 1 || n <= 1 {
        return (0..n).map(f).collect();
    }
    match pool(threads) {
        Some(p) => p.install(|| (0..n).into_par_iter().map(&f).collect()),
        None => (0..n).map(f).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_thread_count_is_capped_and_changes_nothing() {
        let n = 5 * PARALLEL_CHUNK + 7;
        let sums = |threads| map_ranges(n, threads, |s, e| (s..e).sum::<usize>());
        assert_eq!(sums(1_000_000), sums(1));
        let pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        assert!(pools.iter().all(|b| b.threads <= MAX_THREADS));
    }
}
