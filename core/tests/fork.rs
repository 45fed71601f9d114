//! A loop in a child of `fork()`: closing it there must neither hang (the child has none of the
//! pool's threads to join) nor break the parent's loop (the child shares its epoll instance, so
//! deregistering a watcher there would deregister the parent's). A test binary of its own: the
//! child of a fork should come from a process with as few threads as possible.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phaseloop_core::{jobs, Event, Interest, Loop, LoopOptions, RunMode, Task};

/// Waits for `pid` to exit, for at most `patience`; its exit status, or `None` if it did not.
fn wait_for(pid: libc::pid_t, patience: Duration) -> Option<i32> {
    let deadline = Instant::now() + patience;
    loop {
        let mut status = 0;
        // SAFETY: plain waitpid on our own child.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            });
        }
        if Instant::now() > deadline {
            // SAFETY: killing our own stuck child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: reaping that child, into a local status.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn closing_a_loop_in_a_forked_child_neither_hangs_nor_breaks_the_parents_loop() {
    let lp = Loop::<Task>::new(LoopOptions {
        threadpool_size: Some(2),
        ..Default::default()
    })
    .unwrap();
    // Start the pool threads, and watch a socket.
    lp.queue_work(jobs::sleep(0), None).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    let (mut writer, reader) = UnixStream::pair().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let mut source = reader.try_clone().unwrap();
    let watcher = lp
        .watch_fd(
            reader.as_raw_fd(),
            Interest {
                readable: true,
                writable: false,
            },
            Task::new(move |lp, event| {
                if let Event::Io { readable: true, .. } = event {
                    let mut buf = [0u8; 16];
                    let n = source.read(&mut buf).unwrap();
                    s.lock().unwrap().push(buf[..n].to_vec());
                    lp.stop();
                }
                Ok(())
            }),
        )
        .map_err(|refused| refused.error)
        .unwrap();

    // SAFETY: the child only closes the loop and exits with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match lp.close() {
            Ok(()) => 0,
            Err(_) => 2,
        };
        // SAFETY: leaving the child without running the parent's destructors or test harness.
        unsafe { libc::_exit(code) };
    }
    assert_eq!(
        wait_for(pid, Duration::from_secs(10)),
        Some(0),
        "the child's close() hung or failed"
    );

    // The parent's watcher and pool still work (a timer bounds the wait if they do not).
    let give_up = lp
        .set_timeout(
            5000.0,
            Task::new(|_, _| Err("the watcher never fired".into())),
        )
        .unwrap();
    writer.write_all(b"after fork").unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.lock().unwrap(), [b"after fork".to_vec()]);
    lp.clear_timer(give_up).unwrap();
    let done = Arc::new(Mutex::new(false));
    let d = done.clone();
    lp.queue_work(
        jobs::sha256(b"abc".to_vec()),
        Some(Task::new(move |_, _| {
            *d.lock().unwrap() = true;
            Ok(())
        })),
    )
    .unwrap();
    lp.close_watcher(watcher, None).unwrap();
    assert!(!lp.run(RunMode::Default).unwrap());
    assert!(
        *done.lock().unwrap(),
        "the parent's pool ran a job after the fork"
    );
}
