//! A closed loop gives both its fds back at once, the epoll instance and the wake-up eventfd,
//! even while a remote outlives it (a Python asyncio loop's remote lives until the garbage
//! collector breaks its cycle). Its own binary: it counts the process's open fds, which tests
//! running beside it would change.

mod common;

use std::sync::{Arc, Barrier};

use common::real_loop;
use phaseloop_core::Task;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn close_releases_the_epoll_fd_and_the_eventfd_while_a_remote_lives_on() {
    let before = open_fds();
    let lp = real_loop();
    let remote = lp.remote().unwrap();
    assert_eq!(open_fds(), before + 2, "an epoll fd and an eventfd");
    lp.close().unwrap();
    assert_eq!(open_fds(), before, "both are closed with the loop");
    drop(lp);
    let refused = remote.call(Task::new(|_, _| Ok(())));
    assert!(refused.is_err(), "a closed loop refuses calls");
    drop(remote);
    assert_eq!(open_fds(), before, "nothing is left");

    // Senders racing the close (in the same test: the fd counts of two tests running side by
    // side would mix). Each call is delivered or refused, and a notify that lost the race
    // writes to no fd (the eventfd's number may belong to a file opened since).
    for _ in 0..20 {
        let lp = real_loop();
        let start = Arc::new(Barrier::new(5));
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let remote = lp.remote().unwrap();
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..200 {
                        let _ = remote.call(Task::new(|_, _| Ok(())));
                    }
                })
            })
            .collect();
        start.wait();
        lp.close().unwrap();
        for sender in senders {
            sender.join().unwrap();
        }
    }
    assert_eq!(open_fds(), before, "every loop gave both fds back");
}
