//! Signals that cannot be watched (SIGKILL, SIGSTOP, and those signal-hook refuses because a
//! handler could not return from them) are an invalid argument, not a panic, and the refused
//! callback is handed back.

use phaseloop_core::{Error, Loop, LoopOptions, Task};

#[test]
fn watching_a_forbidden_signal_is_an_invalid_argument() {
    let lp = Loop::<Task>::new(LoopOptions::default()).unwrap();
    for signum in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGSEGV,
    ] {
        let refused = lp
            .on_signal(signum, Task::new(|_, _| Ok(())))
            .expect_err("a forbidden signal is refused");
        assert!(
            matches!(refused.error, Error::InvalidArgument(_)),
            "signal {signum}"
        );
    }
    assert!(lp.handles().is_empty(), "nothing was left registered");
    // The loop is still usable.
    let id = lp
        .on_signal(libc::SIGUSR2, Task::new(|_, _| Ok(())))
        .unwrap();
    lp.close_signal(id, None).unwrap();
}
