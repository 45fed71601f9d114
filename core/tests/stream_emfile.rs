//! A server in a process that has run out of fds (`EMFILE`) sheds the waiting connections
//! with libuv's reserve fd instead of leaving them queued, which would keep the listening fd
//! readable and spin the poll phase. Its own binary: it lowers the process's fd limit.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::real_loop;
use phaseloop_core::{Event, ListenOptions, NetAddr, RunMode, Task};

fn open_fd_numbers() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn a_server_out_of_fds_sheds_waiting_connections_and_reports_emfile() {
    let lp = real_loop();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let server = lp
        .tcp_listen(
            "127.0.0.1:0".parse().unwrap(),
            ListenOptions::default(),
            Task::new(move |lp, event| {
                match event {
                    Event::Connection(Ok(conn)) => {
                        seen2.lock().unwrap().push("accepted".to_owned());
                        lp.close_handle(conn, None).unwrap();
                    }
                    Event::Connection(Err(err)) => seen2
                        .lock()
                        .unwrap()
                        .push(format!("errno {}", err.raw_os_error().unwrap())),
                    other => panic!("{other:?}"),
                }
                Ok(())
            }),
        )
        .unwrap();
    let NetAddr::Inet(addr) = lp.local_address(server).unwrap() else {
        panic!()
    };
    // Three clients wait in the backlog (the kernel completes their handshakes).
    let mut clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &clients {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }

    // Fill every free fd number below a limit just above the highest open fd.
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: old is valid for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let limit = *open_fd_numbers().iter().max().unwrap() as u64 + 1;
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: old.rlim_max,
    };
    // SAFETY: a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) }, 0);
    let mut fillers = Vec::new();
    loop {
        // SAFETY: dup of stdin; the new fd is owned by `fillers`.
        let fd = unsafe { libc::dup(0) };
        if fd < 0 {
            break;
        }
        // SAFETY: `fd` was just returned by dup, so nothing else owns it.
        fillers.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }

    lp.run(RunMode::NoWait).unwrap();
    // SAFETY: restoring the limit read above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
    drop(fillers);

    assert_eq!(*seen.lock().unwrap(), [format!("errno {}", libc::EMFILE)]);
    // Each waiting client was accepted and closed: it reads its end (or a reset), not a hang.
    for c in &mut clients {
        let mut buf = [0u8; 1];
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(err) => assert_eq!(err.raw_os_error(), Some(libc::ECONNRESET)),
        }
    }
    // The listening fd is no longer readable: a poll with a wait returns having run nothing.
    lp.set_ref(server, false).unwrap();
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    // With fds to spare again, the server accepts as before.
    let _late = TcpStream::connect(addr).unwrap();
    lp.set_ref(server, true).unwrap();
    lp.run(RunMode::Once).unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap(), "accepted");
    lp.close_handle(server, None).unwrap();
    lp.run(RunMode::Default).unwrap();
}
