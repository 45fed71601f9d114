//! A closed loop gives its epoll fd back at once; the wake-up eventfd stays while a remote
//! may still write to it, and goes with the last one. Its own binary: it counts the process's
//! open fds, which tests running beside it would change.

mod common;

use common::real_loop;
use phaseloop_core::Task;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn close_releases_the_epoll_fd_and_the_last_remote_the_eventfd() {
    let before = open_fds();
    let lp = real_loop();
    let remote = lp.remote().unwrap();
    assert_eq!(open_fds(), before + 2, "an epoll fd and an eventfd");
    lp.close().unwrap();
    assert_eq!(
        open_fds(),
        before + 1,
        "the epoll fd is closed with the loop"
    );
    drop(lp);
    assert_eq!(open_fds(), before + 1, "the remote still holds the eventfd");
    let refused = remote.call(Task::new(|_, _| Ok(())));
    assert!(refused.is_err(), "a closed loop refuses calls");
    drop(remote);
    assert_eq!(open_fds(), before, "nothing is left");
}
