//! ns per operation of phaseloop's Rust core, with no binding in the way.
//!
//! ```text
//! core_bench WORKLOAD N [THREADS]
//! ```
//! runs one workload once and prints one line per figure, `<metric> <ns per operation>`, for
//! `bench/report.py` (which runs it several times and takes the median). The callbacks are
//! [`Task`]s whose closures capture nothing, so scheduling one allocates nothing and what is
//! measured is the loop itself; they count in a thread-local cell. A workload whose count is
//! wrong exits with an error instead of a figure.

use std::cell::Cell;
use std::process::ExitCode;
use std::time::Instant;

use phaseloop_core::{ClockKind, Id, JobOutput, Loop, LoopOptions, RunMode, Task};

thread_local! {
    /// Callbacks run so far on this thread.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// What a chain has left to schedule.
    static LEFT: Cell<u64> = const { Cell::new(0) };
    /// The timer that keeps the threadsafe workload's loop alive.
    static KEEPALIVE: Cell<Option<Id>> = const { Cell::new(None) };
}

fn count() -> u64 {
    COUNT.with(Cell::get)
}

fn reset() {
    COUNT.with(|c| c.set(0));
}

fn bump() {
    COUNT.with(|c| c.set(c.get() + 1));
}

/// The figures of one run: `(metric, ns per operation)`.
type Figures = Vec<(&'static str, f64)>;

fn per_op(ns: u128, n: u64) -> f64 {
    ns as f64 / n as f64
}

fn new_loop(clock: ClockKind, pool: Option<usize>) -> Loop<Task> {
    Loop::new(LoopOptions {
        clock,
        threadpool_size: pool,
        ..Default::default()
    })
    .expect("a loop")
}

fn run(lp: &Loop<Task>) {
    lp.run(RunMode::Default).expect("run");
}

fn expect(what: &str, got: u64, want: u64) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got} callbacks ran, expected {want}"))
    }
}

/// The CPU time of the calling thread in ns (timers wait for real time, which is not cost).
fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; the clock id is valid on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

// ----- immediates and ticks ---------------------------------------------------------------------

fn immediates(n: u64) -> Result<Figures, String> {
    let lp = new_loop(ClockKind::Real, None);
    reset();
    let start = Instant::now();
    for _ in 0..n {
        lp.set_immediate(Task::new(|_, _| {
            bump();
            Ok(())
        }))
        .map_err(|e| e.to_string())?;
    }
    let scheduled = Instant::now();
    run(&lp);
    let ran = Instant::now();
    expect("immediates", count(), n)?;
    Ok(vec![
        ("total", per_op((ran - start).as_nanos(), n)),
        ("schedule", per_op((scheduled - start).as_nanos(), n)),
        ("run", per_op((ran - scheduled).as_nanos(), n)),
    ])
}

/// How a chain queues its next callback. A type, not a value, so that the closures the chain
/// makes still capture nothing (and allocate nothing).
trait Link {
    const WHAT: &'static str;
    fn queue(lp: &Loop<Task>, task: Task) -> Result<(), String>;
}

/// Each immediate queues the next: one loop iteration per callback (Node's rule), so what is
/// measured is an iteration through the phases with one callback in it.
struct ByImmediate;

impl Link for ByImmediate {
    const WHAT: &'static str = "immediate chain";
    fn queue(lp: &Loop<Task>, task: Task) -> Result<(), String> {
        lp.set_immediate(task).map(drop).map_err(|e| e.to_string())
    }
}

/// Each tick queues the next: the whole chain runs in one drain.
struct ByTick;

impl Link for ByTick {
    const WHAT: &'static str = "tick chain";
    fn queue(lp: &Loop<Task>, task: Task) -> Result<(), String> {
        lp.next_tick(task).map_err(|e| e.to_string())
    }
}

fn link<L: Link>() -> Task {
    Task::new(|lp, _| {
        bump();
        let left = LEFT.with(|l| {
            l.set(l.get() - 1);
            l.get()
        });
        if left > 0 {
            L::queue(lp, link::<L>()).expect("the next link");
        }
        Ok(())
    })
}

fn chain<L: Link>(n: u64) -> Result<Figures, String> {
    let lp = new_loop(ClockKind::Real, None);
    reset();
    LEFT.with(|l| l.set(n));
    let start = Instant::now();
    L::queue(&lp, link::<L>())?;
    run(&lp);
    let elapsed = start.elapsed();
    expect(L::WHAT, count(), n)?;
    Ok(vec![("callback", per_op(elapsed.as_nanos(), n))])
}

// ----- timers ---------------------------------------------------------------------------------------

fn timers(clock: ClockKind, n: u64) -> Result<Figures, String> {
    let lp = new_loop(clock, None);
    reset();
    let start = Instant::now();
    for i in 0..n {
        lp.set_timeout(
            (i % 1000) as f64,
            Task::new(|_, _| {
                bump();
                Ok(())
            }),
        )
        .map_err(|e| e.to_string())?;
    }
    let scheduled = Instant::now();
    let cpu = thread_cpu_ns();
    run(&lp);
    let ran_cpu = thread_cpu_ns() - cpu;
    let ran = Instant::now();
    expect("timers", count(), n)?;
    let mut figures = vec![
        ("start", per_op((scheduled - start).as_nanos(), n)),
        ("run_cpu", per_op(ran_cpu, n)),
    ];
    if clock == ClockKind::Real {
        figures.push(("run_wall", per_op((ran - scheduled).as_nanos(), n)));
    }
    Ok(figures)
}

fn timer_start_clear(n: u64) -> Result<Figures, String> {
    let lp = new_loop(ClockKind::Real, None);
    reset();
    let start = Instant::now();
    for i in 0..n {
        let id = lp
            .set_timeout(
                (i % 1000) as f64,
                Task::new(|_, _| {
                    bump();
                    Ok(())
                }),
            )
            .map_err(|e| e.to_string())?;
        lp.clear_timer(id).map_err(|e| e.to_string())?;
    }
    let elapsed = start.elapsed();
    run(&lp);
    expect("start+clear", count(), 0)?;
    Ok(vec![("pair", per_op(elapsed.as_nanos(), n))])
}

// ----- work and threadsafe calls --------------------------------------------------------------------

fn work(pool: usize, n: u64) -> Result<Figures, String> {
    let lp = new_loop(ClockKind::Real, Some(pool));
    reset();
    let start = Instant::now();
    for _ in 0..n {
        lp.queue_work(
            Box::new(|| Ok(Box::new(()) as JobOutput)),
            Some(Task::new(|_, _| {
                bump();
                Ok(())
            })),
        )
        .map_err(|e| e.error.to_string())?;
    }
    run(&lp);
    let elapsed = start.elapsed();
    expect("work", count(), n)?;
    Ok(vec![("job", per_op(elapsed.as_nanos(), n))])
}

fn threadsafe(threads: u64, n: u64) -> Result<Figures, String> {
    let lp = new_loop(ClockKind::Real, None);
    reset();
    let per_thread = n / threads;
    let total = per_thread * threads;
    LEFT.with(|l| l.set(total));
    // A remote does not keep the loop alive; this timer stands for "waiting for the senders"
    // and the last call clears it.
    let keepalive = lp
        .set_timeout(1e9, Task::new(|_, _| Ok(())))
        .map_err(|e| e.to_string())?;
    KEEPALIVE.with(|k| k.set(Some(keepalive)));
    let remote = lp.remote().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let senders: Vec<_> = (0..threads)
        .map(|_| {
            let remote = remote.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    let call = Task::new(|lp, _| {
                        bump();
                        if count() == LEFT.with(Cell::get) {
                            if let Some(id) = KEEPALIVE.with(Cell::get) {
                                lp.clear_timer(id)?;
                            }
                        }
                        Ok(())
                    });
                    if remote.call(call).is_err() {
                        panic!("the loop refused a call");
                    }
                }
            })
        })
        .collect();
    run(&lp);
    let elapsed = start.elapsed();
    for sender in senders {
        sender.join().map_err(|_| "a sender panicked".to_owned())?;
    }
    expect("threadsafe", count(), total)?;
    Ok(vec![("call", per_op(elapsed.as_nanos(), total))])
}

// ----- the command line -----------------------------------------------------------------------------

type Workload = fn(u64, u64) -> Result<Figures, String>;

/// The workloads, by name; the second argument is the pool size or the number of senders.
const WORKLOADS: &[(&str, Workload)] = &[
    ("immediates", |n, _| immediates(n)),
    ("immediates_chain", |n, _| chain::<ByImmediate>(n)),
    ("tick_chain", |n, _| chain::<ByTick>(n)),
    ("timers_virtual", |n, _| timers(ClockKind::Virtual, n)),
    ("timers_real", |n, _| timers(ClockKind::Real, n)),
    ("timer_start_clear", |n, _| timer_start_clear(n)),
    ("work", |n, threads| work(threads as usize, n)),
    ("threadsafe", |n, threads| threadsafe(threads, n)),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        let names: Vec<&str> = WORKLOADS.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "usage: core_bench WORKLOAD N [THREADS]\nworkloads: {}",
            names.join(" ")
        );
        ExitCode::from(2)
    };
    if args.len() < 3 {
        return usage();
    }
    let n: u64 = args[2].parse().unwrap_or(0);
    let threads: u64 = args.get(3).map_or(Some(1), |t| t.parse().ok()).unwrap_or(0);
    let Some((_, workload)) = WORKLOADS.iter().find(|(name, _)| *name == args[1]) else {
        return usage();
    };
    if n == 0 || threads == 0 {
        return usage();
    }
    match workload(n, threads) {
        Ok(figures) => {
            for (metric, value) in figures {
                println!("{metric} {value:.3}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
