//! Streams and servers on the loop (docs/ordering.md, "Network I/O"): TCP, Unix-domain
//! sockets and pipe fds, what phase each of their callbacks runs in, and the faults a server
//! meets (refused connects, resets, a peer that stops reading, closes with writes queued).
//!
//! Every test takes `SERIAL` so the ones that count the process's open fds see only their own.
//! Loopback I/O is real, so these run on the real clock; nothing here asserts a duration.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use common::{real_loop, Log};
use phaseloop_core::{
    Error, Event, Id, ListenOptions, Loop, NetAddr, ReadEvent, RunMode, StreamKind, SyncWrite, Task,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens what a process opens once for its first server (the reserve fd), so fd counts
/// taken after it see only what a test leaks.
fn warm_up() {
    let lp = real_loop();
    let server = lp
        .tcp_listen(
            loopback(),
            ListenOptions::default(),
            Task::new(|_, _| Ok(())),
        )
        .unwrap();
    lp.close_handle(server, None).unwrap();
    lp.run(RunMode::Default).unwrap();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn port_of(lp: &Loop<Task>, id: Id) -> u16 {
    match lp.local_address(id).unwrap() {
        NetAddr::Inet(addr) => addr.port(),
        other => panic!("not an inet address: {other:?}"),
    }
}

/// The phase the callback runs in, as the timeline names it.
fn phase(lp: &Loop<Task>) -> &'static str {
    lp.phase().map(|p| p.name()).unwrap_or("outside")
}

fn errno(err: &std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(-1)
}

/// A server that echoes what each connection sends and closes a connection at its end.
fn echo_server(lp: &Loop<Task>, log: &Log) -> Id {
    let log = log.clone();
    lp.tcp_listen(
        loopback(),
        ListenOptions::default(),
        Task::new(move |lp, event| {
            let Event::Connection(Ok(conn)) = event else {
                panic!("accept failed: {event:?}");
            };
            log.push(format!("{}:connection", phase(lp)));
            let log = log.clone();
            lp.read_start(
                conn,
                Task::new(move |lp, event| {
                    match event {
                        Event::Read(ReadEvent::Data(data)) => {
                            log.push(format!("{}:server-read", phase(lp)));
                            lp.write(conn, Box::new(data.to_vec()), None, SyncWrite::Pending)
                                .unwrap();
                        }
                        Event::Read(ReadEvent::Eof) => {
                            log.push(format!("{}:server-end", phase(lp)));
                            lp.close_handle(conn, None).unwrap();
                        }
                        other => panic!("server read: {other:?}"),
                    }
                    Ok(())
                }),
            )
            .unwrap();
            Ok(())
        }),
    )
    .unwrap()
}

#[test]
fn an_echo_round_trip_runs_each_callback_in_libuvs_phase() {
    let _serial = serial();
    let lp = real_loop();
    let log = Log::default();
    let server = echo_server(&lp, &log);
    let port = port_of(&lp, server);
    let reply = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let log = log.clone();
        lp.tcp_connect(
            "127.0.0.1",
            port,
            Task::new(move |lp, event| {
                let Event::Connect(Ok(())) = event else {
                    panic!("connect: {event:?}");
                };
                log.push(format!("{}:connect", phase(lp)));
                Ok(())
            }),
        )
        .unwrap()
    };
    // A write before the connect completes waits for it; its callback runs in the poll phase.
    {
        let log = log.clone();
        let written = Task::new(move |lp, event| {
            assert!(matches!(event, Event::Written(Ok(()))), "{event:?}");
            log.push(format!("{}:written", phase(lp)));
            Ok(())
        });
        assert!(lp
            .write(
                client,
                Box::new(b"hello".to_vec()),
                Some(written),
                SyncWrite::Pending
            )
            .unwrap()
            .is_none());
    }
    {
        let log = log.clone();
        let reply = reply.clone();
        lp.read_start(
            client,
            Task::new(move |lp, event| {
                if let Event::Read(ReadEvent::Data(data)) = event {
                    log.push(format!("{}:client-read", phase(lp)));
                    reply.lock().unwrap().extend_from_slice(data);
                    // A second write now goes out whole inside the call: pending phase.
                    let log2 = log.clone();
                    let cb = Task::new(move |lp, _| {
                        log2.push(format!("{}:sync-written", phase(lp)));
                        Ok(())
                    });
                    if reply.lock().unwrap().len() == 5 {
                        lp.write(
                            client,
                            Box::new(b"!".to_vec()),
                            Some(cb),
                            SyncWrite::Pending,
                        )
                        .unwrap();
                    } else {
                        let log3 = log.clone();
                        lp.close_handle(
                            client,
                            Some(Task::new(move |lp, _| {
                                log3.push(format!("{}:client-close", phase(lp)));
                                Ok(())
                            })),
                        )
                        .unwrap();
                        lp.close_handle(server, None).unwrap();
                    }
                }
                Ok(())
            }),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*reply.lock().unwrap(), b"hello!");
    let entries = log.entries();
    assert!(entries.contains(&"poll:connect".to_owned()), "{entries:?}");
    assert!(
        entries.contains(&"poll:connection".to_owned()),
        "{entries:?}"
    );
    assert!(entries.contains(&"poll:written".to_owned()), "{entries:?}");
    assert!(
        entries.contains(&"pending:sync-written".to_owned()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"close:client-close".to_owned()),
        "{entries:?}"
    );
    assert_eq!(entries.last().unwrap(), "poll:server-end", "{entries:?}");
    assert_eq!(
        entries.iter().filter(|e| *e == "poll:client-read").count(),
        2,
        "{entries:?}"
    );
    // The connect callback precedes the first write callback on the same stream.
    let at = |e: &str| entries.iter().position(|x| x == e).unwrap();
    assert!(at("poll:connect") < at("poll:written"), "{entries:?}");
    assert!(!lp.alive());
}

#[test]
fn a_sync_write_in_tick_mode_hands_its_callback_back() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    // A socket opened as a pipe is named by its family, as libuv's uv_pipe_open keeps it.
    assert_eq!(lp.stream_kind(id).unwrap(), StreamKind::Unix);
    let cb = Task::new(|_, _| Ok(()));
    let back = lp
        .write(id, Box::new(b"abc".to_vec()), Some(cb), SyncWrite::Tick)
        .unwrap();
    assert!(
        back.is_some(),
        "a write taken whole hands the callback back"
    );
    assert_eq!(lp.write_queue_size(id).unwrap(), 0);
    assert_eq!(lp.stream_bytes(id).unwrap(), (0, 3));
    let mut got = [0u8; 3];
    theirs.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"abc");
    lp.close_handle(id, None).unwrap();
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn a_refused_connect_is_an_event_never_an_error_of_the_call() {
    let _serial = serial();
    let lp = real_loop();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = Log::default();
    let log2 = log.clone();
    let id = lp
        .tcp_connect(
            "127.0.0.1",
            port,
            Task::new(move |lp, event| {
                match event {
                    Event::Connect(Err(err)) => {
                        log2.push(format!("{}:{}", phase(lp), errno(&err)));
                    }
                    other => panic!("expected a refusal: {other:?}"),
                }
                Ok(())
            }),
        )
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    let entries = log.entries();
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0].ends_with(&format!(":{}", libc::ECONNREFUSED)),
        "{entries:?}"
    );
    // The stream stays until closed; closing it runs nothing more.
    lp.close_handle(id, None).unwrap();
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn listening_on_a_port_in_use_is_eaddrinuse_at_once_with_the_callback_back() {
    let _serial = serial();
    let lp = real_loop();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let refused = lp
        .tcp_listen(addr, ListenOptions::default(), Task::new(|_, _| Ok(())))
        .unwrap_err();
    match refused.error {
        Error::Io(err) => assert_eq!(errno(&err), libc::EADDRINUSE),
        other => panic!("{other:?}"),
    }
    assert!(!lp.alive());
}

#[test]
fn a_unix_server_refuses_a_path_that_exists_and_removes_its_own_at_close() {
    let _serial = serial();
    let lp = real_loop();
    let dir = std::env::temp_dir().join(format!("phaseloop-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let taken = dir.join("taken.sock");
    std::fs::write(&taken, b"").unwrap();
    let refused = lp
        .pipe_listen(&taken, 16, Task::new(|_, _| Ok(())))
        .unwrap_err();
    match refused.error {
        Error::Io(err) => assert_eq!(errno(&err), libc::EADDRINUSE),
        other => panic!("{other:?}"),
    }

    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let log = Log::default();
    let log2 = log.clone();
    let server = lp
        .pipe_listen(
            &path,
            16,
            Task::new(move |lp, event| {
                let Event::Connection(Ok(conn)) = event else {
                    panic!("{event:?}")
                };
                assert_eq!(lp.stream_kind(conn).unwrap(), StreamKind::Unix);
                log2.push(format!("{}:connection", phase(lp)));
                lp.write(conn, Box::new(b"hi".to_vec()), None, SyncWrite::Pending)
                    .unwrap();
                lp.shutdown(conn, None).unwrap();
                Ok(())
            }),
        )
        .unwrap();
    assert!(path.exists());
    let got = Arc::new(Mutex::new(Vec::new()));
    let got2 = got.clone();
    let client = lp
        .pipe_connect(
            &path,
            Task::new(|_, event| {
                assert!(matches!(event, Event::Connect(Ok(()))), "{event:?}");
                Ok(())
            }),
        )
        .unwrap();
    lp.read_start(
        client,
        Task::new(move |lp, event| {
            match event {
                Event::Read(ReadEvent::Data(d)) => got2.lock().unwrap().extend_from_slice(d),
                Event::Read(ReadEvent::Eof) => {
                    lp.close_handle(client, None).unwrap();
                    lp.close_handle(server, None).unwrap();
                }
                other => panic!("{other:?}"),
            }
            Ok(())
        }),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*got.lock().unwrap(), b"hi");
    assert_eq!(log.entries(), ["poll:connection"]);
    assert!(
        !path.exists(),
        "the server's path is removed when it closes"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn opening_a_closed_fd_is_ebadf() {
    let _serial = serial();
    let lp = real_loop();
    let (a, b) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    // SAFETY: we own fd and close it once.
    unsafe { libc::close(fd) };
    drop(b);
    match lp.pipe_open(fd).unwrap_err() {
        Error::Io(err) => assert_eq!(errno(&err), libc::EBADF),
        other => panic!("{other:?}"),
    }
    assert!(!lp.alive());
}

#[test]
fn closing_with_writes_queued_cancels_them_in_the_close_phase_before_the_close_callback() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    let log = Log::default();
    // The peer never reads: most of 8 MiB stays queued.
    for n in 0..8 {
        let log = log.clone();
        let cb = Task::new(move |lp, event| {
            let Event::Written(result) = event else {
                panic!("{event:?}")
            };
            let what = match result {
                Ok(()) => "ok".to_owned(),
                Err(err) => errno(&err).to_string(),
            };
            log.push(format!("{}:write{n}:{what}", phase(lp)));
            Ok(())
        });
        lp.write(
            id,
            Box::new(vec![7u8; 1 << 20]),
            Some(cb),
            SyncWrite::Pending,
        )
        .unwrap();
    }
    assert!(lp.write_queue_size(id).unwrap() > 4 << 20);
    {
        let log = log.clone();
        lp.set_immediate(Task::new(move |lp, _| {
            log.push(format!("{}:immediate", phase(lp)));
            Ok(())
        }))
        .unwrap();
    }
    let log2 = log.clone();
    lp.close_handle(
        id,
        Some(Task::new(move |lp, _| {
            log2.push(format!("{}:close", phase(lp)));
            Ok(())
        })),
    )
    .unwrap();
    assert!(!lp.is_active(id));
    lp.run(RunMode::Default).unwrap();
    let entries = log.entries();
    assert_eq!(entries.first().unwrap(), "check:immediate", "{entries:?}");
    assert_eq!(entries.last().unwrap(), "close:close", "{entries:?}");
    let cancelled = format!("close:write7:{}", libc::ECANCELED);
    assert!(entries.contains(&cancelled), "{entries:?}");
    // Every write callback ran exactly once, in submission order.
    let writes: Vec<_> = entries.iter().filter(|e| e.contains(":write")).collect();
    assert_eq!(writes.len(), 8, "{entries:?}");
    for (n, w) in writes.iter().enumerate() {
        assert!(w.contains(&format!(":write{n}:")), "{entries:?}");
    }
    drop(theirs);
}

#[test]
fn shutdown_half_closes_after_the_queue_and_a_later_write_is_epipe() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    lp.write(
        id,
        Box::new(b"last words".to_vec()),
        None,
        SyncWrite::Pending,
    )
    .unwrap();
    let log = Log::default();
    let log2 = log.clone();
    lp.shutdown(
        id,
        Some(Task::new(move |lp, event| {
            assert!(matches!(event, Event::Shutdown(Ok(()))), "{event:?}");
            log2.push(format!("{}:shutdown", phase(lp)));
            lp.close_handle(id, None).unwrap();
            Ok(())
        })),
    )
    .unwrap();
    let Err(refused) = lp.write(
        id,
        Box::new(b"x".to_vec()),
        Some(Task::new(|_, _| Ok(()))),
        SyncWrite::Pending,
    ) else {
        panic!("a write after shutdown was taken");
    };
    assert!(
        refused.callback.is_some(),
        "the refused callback comes back"
    );
    match refused.error {
        Error::Io(err) => assert_eq!(errno(&err), libc::EPIPE),
        other => panic!("{other:?}"),
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), ["poll:shutdown"]);
    let mut all = Vec::new();
    theirs.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"last words");
}

#[test]
fn a_peer_reset_reaches_the_read_callback_as_econnreset() {
    let _serial = serial();
    let lp = real_loop();
    let log = Log::default();
    let log2 = log.clone();
    let server_cell: Arc<Mutex<Option<Id>>> = Arc::default();
    let server_cell2 = server_cell.clone();
    let server = lp
        .tcp_listen(
            loopback(),
            ListenOptions::default(),
            Task::new(move |lp, event| {
                let Event::Connection(Ok(conn)) = event else {
                    panic!("{event:?}")
                };
                let log = log2.clone();
                let server = server_cell2.lock().unwrap().unwrap();
                lp.read_start(
                    conn,
                    Task::new(move |lp, event| {
                        match event {
                            Event::Read(ReadEvent::Error(err)) => {
                                log.push(format!("{}:error:{}", phase(lp), errno(&err)));
                                assert!(!lp.is_reading(conn));
                                lp.close_handle(conn, None).unwrap();
                                lp.close_handle(server, None).unwrap();
                            }
                            other => panic!("{other:?}"),
                        }
                        Ok(())
                    }),
                )
                .unwrap();
                Ok(())
            }),
        )
        .unwrap();
    *server_cell.lock().unwrap() = Some(server);
    let port = port_of(&lp, server);
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Linger 0 makes the close a reset.
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), [format!("poll:error:{}", libc::ECONNRESET)]);
}

#[test]
fn a_peer_that_stops_reading_grows_the_queue_then_everything_arrives() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    const TOTAL: usize = 16 << 20;
    const CHUNK: usize = 64 << 10;
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..TOTAL / CHUNK {
        let done = done.clone();
        lp.write(
            id,
            Box::new(vec![1u8; CHUNK]),
            Some(Task::new(move |_, event| {
                assert!(matches!(event, Event::Written(Ok(()))), "{event:?}");
                done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            })),
            SyncWrite::Pending,
        )
        .unwrap();
    }
    let queued = lp.write_queue_size(id).unwrap();
    assert!(
        queued > TOTAL / 2,
        "the kernel took {} bytes",
        TOTAL - queued
    );
    let reader = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < TOTAL {
            let n = theirs.read(&mut buf).unwrap();
            assert!(n > 0);
            total += n;
        }
        total
    });
    let finished = done.clone();
    lp.add_handle(
        phaseloop_core::HandleKind::Check,
        Task::new(move |lp, _| {
            if finished.load(Ordering::Relaxed) == TOTAL / CHUNK && lp.is_active(id) {
                lp.close_handle(id, None).unwrap();
            }
            Ok(())
        }),
    )
    .map_err(Error::from)
    .and_then(|h| lp.start_handle(h).map(|_| h))
    .map(|h| lp.set_ref(h, false).unwrap())
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(reader.join().unwrap(), TOTAL);
    assert_eq!(done.load(Ordering::Relaxed), TOTAL / CHUNK);
}

#[test]
fn one_busy_stream_reads_at_most_32_times_per_readiness_event() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let theirs = Arc::new(theirs);
    // Every read fills the read buffer, so only the per-event bound ends the reads.
    let full = vec![b'x'; phaseloop_core::net::READ_BUFFER_SIZE];
    (&*theirs).write_all(&full).unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    let log = Log::default();
    let reads = Arc::new(AtomicUsize::new(0));
    {
        let log = log.clone();
        let reads = reads.clone();
        lp.set_immediate(Task::new(move |lp, _| {
            log.push(format!("immediate after {}", reads.load(Ordering::Relaxed)));
            lp.close_handle(id, None).unwrap();
            Ok(())
        }))
        .unwrap();
    }
    {
        let reads = reads.clone();
        let theirs = theirs.clone();
        lp.read_start(
            id,
            Task::new(move |_, event| {
                if let Event::Read(ReadEvent::Data(data)) = event {
                    assert_eq!(data.len(), full.len());
                    reads.fetch_add(1, Ordering::Relaxed);
                    // Always readable again: only the per-event bound lets the loop move on.
                    (&*theirs).write_all(&full).unwrap();
                }
                Ok(())
            }),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        log.entries(),
        [format!(
            "immediate after {}",
            phaseloop_core::net::READS_PER_EVENT
        )]
    );
}

#[test]
fn a_read_that_does_not_fill_the_buffer_ends_the_events_reads() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let theirs = Arc::new(theirs);
    (&*theirs).write_all(b"x").unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    let log = Log::default();
    let reads = Arc::new(AtomicUsize::new(0));
    {
        let log = log.clone();
        let reads = reads.clone();
        lp.set_immediate(Task::new(move |lp, _| {
            log.push(format!("immediate after {}", reads.load(Ordering::Relaxed)));
            lp.close_handle(id, None).unwrap();
            Ok(())
        }))
        .unwrap();
    }
    {
        let reads = reads.clone();
        let theirs = theirs.clone();
        lp.read_start(
            id,
            Task::new(move |_, event| {
                if let Event::Read(ReadEvent::Data(_)) = event {
                    reads.fetch_add(1, Ordering::Relaxed);
                    // Readable again at once, but the short read said the socket was drained:
                    // the next byte is the next poll's, after the check phase.
                    (&*theirs).write_all(b"x").unwrap();
                }
                Ok(())
            }),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), ["immediate after 1"]);
}

#[test]
fn an_unrefed_server_does_not_keep_the_loop_alive_but_stays_active() {
    let _serial = serial();
    let lp = real_loop();
    let server = lp
        .tcp_listen(
            loopback(),
            ListenOptions::default(),
            Task::new(|_, _| Ok(())),
        )
        .unwrap();
    assert!(lp.has_ref(server).unwrap());
    lp.set_ref(server, false).unwrap();
    assert!(!lp.has_ref(server).unwrap());
    assert!(lp.is_active(server));
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::Default).unwrap());
    lp.close_handle(server, None).unwrap();
    assert!(!lp.is_active(server));
    assert!(matches!(lp.has_ref(server), Err(Error::NotFound)));
}

#[test]
fn addresses_name_both_ends() {
    let _serial = serial();
    let lp = real_loop();
    let peer = Arc::new(Mutex::new(None));
    let peer2 = peer.clone();
    let server = lp
        .tcp_listen(
            loopback(),
            ListenOptions::default(),
            Task::new(move |lp, event| {
                let Event::Connection(Ok(conn)) = event else {
                    panic!()
                };
                *peer2.lock().unwrap() = Some(lp.peer_address(conn).unwrap());
                lp.close_handle(conn, None).unwrap();
                Ok(())
            }),
        )
        .unwrap();
    let port = port_of(&lp, server);
    let local = Arc::new(Mutex::new(None));
    let local2 = local.clone();
    let client_cell: Arc<Mutex<Option<Id>>> = Arc::default();
    let client_cell2 = client_cell.clone();
    let client = lp
        .tcp_connect(
            "localhost",
            port,
            Task::new(move |lp, event| {
                // "localhost" resolves on the pool; the connect still reports in the poll phase.
                assert_eq!(phase(lp), "poll");
                if let Event::Connect(Ok(())) = event {
                    let client = client_cell2.lock().unwrap().unwrap();
                    lp.set_nodelay(client, true).unwrap();
                    lp.set_keepalive(client, true, 30).unwrap();
                    Ok(())
                } else {
                    panic!("{event:?}")
                }
            }),
        )
        .unwrap();
    *client_cell.lock().unwrap() = Some(client);
    assert!(matches!(lp.peer_address(client), Err(Error::Io(_))));
    lp.read_start(
        client,
        Task::new(move |lp, event| {
            assert!(matches!(event, Event::Read(ReadEvent::Eof)), "{event:?}");
            *local2.lock().unwrap() = Some(lp.local_address(client).unwrap());
            lp.close_handle(client, None).unwrap();
            lp.close_handle(server, None).unwrap();
            Ok(())
        }),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let local = local.lock().unwrap().clone().unwrap();
    assert_eq!(Some(local), *peer.lock().unwrap());
}

#[test]
fn ipv6_loopback_round_trip() {
    let _serial = serial();
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let lp = real_loop();
    let log = Log::default();
    let server = lp
        .tcp_listen(
            "[::1]:0".parse().unwrap(),
            ListenOptions {
                ipv6_only: true,
                ..Default::default()
            },
            Task::new(|lp, event| {
                let Event::Connection(Ok(conn)) = event else {
                    panic!()
                };
                lp.write(conn, Box::new(b"six".to_vec()), None, SyncWrite::Pending)
                    .unwrap();
                lp.shutdown(conn, None).unwrap();
                lp.read_start(
                    conn,
                    Task::new(move |lp, _| {
                        lp.close_handle(conn, None).unwrap();
                        Ok(())
                    }),
                )
                .unwrap();
                Ok(())
            }),
        )
        .unwrap();
    let port = port_of(&lp, server);
    let client = lp
        .tcp_connect("::1", port, Task::new(|_, _| Ok(())))
        .unwrap();
    let log2 = log.clone();
    lp.read_start(
        client,
        Task::new(move |lp, event| {
            match event {
                Event::Read(ReadEvent::Data(d)) => log2.push(String::from_utf8_lossy(d)),
                _ => {
                    lp.close_handle(client, None).unwrap();
                    lp.close_handle(server, None).unwrap();
                }
            }
            Ok(())
        }),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), ["six"]);
}

#[test]
fn writing_into_a_pipe_whose_reader_is_gone_is_epipe_not_sigpipe() {
    let _serial = serial();
    let lp = real_loop();
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two fds pipe() writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the read end is ours to close.
    unsafe { libc::close(fds[0]) };
    let id = lp.pipe_open(fds[1]).unwrap();
    assert_eq!(lp.stream_kind(id).unwrap(), StreamKind::Pipe);
    let log = Log::default();
    let log2 = log.clone();
    lp.write(
        id,
        Box::new(b"nobody listens".to_vec()),
        Some(Task::new(move |lp, event| {
            let Event::Written(Err(err)) = event else {
                panic!("{event:?}")
            };
            log2.push(format!("{}:{}", phase(lp), errno(&err)));
            lp.close_handle(id, None).unwrap();
            Ok(())
        })),
        SyncWrite::Pending,
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), [format!("pending:{}", libc::EPIPE)]);
}

/// Counts its drops, so a test can say each callback was dropped exactly once.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn closing_the_loop_with_connections_and_writes_in_flight_drops_each_callback_once() {
    let _serial = serial();
    warm_up();
    let before = open_fds();
    let drops = Arc::new(AtomicUsize::new(0));
    let made = 5;
    {
        let lp = real_loop();
        let server = lp
            .tcp_listen(loopback(), ListenOptions::default(), {
                let guard = Dropped(drops.clone());
                Task::new(move |_, _| {
                    let _ = &guard;
                    Ok(())
                })
            })
            .unwrap();
        let port = port_of(&lp, server);
        let client = lp
            .tcp_connect("127.0.0.1", port, {
                let guard = Dropped(drops.clone());
                Task::new(move |_, _| {
                    let _ = &guard;
                    Ok(())
                })
            })
            .unwrap();
        lp.read_start(client, {
            let guard = Dropped(drops.clone());
            Task::new(move |_, _| {
                let _ = &guard;
                Ok(())
            })
        })
        .unwrap();
        for _ in 0..2 {
            let guard = Dropped(drops.clone());
            lp.write(
                client,
                Box::new(vec![0u8; 4 << 20]),
                Some(Task::new(move |_, _| {
                    let _ = &guard;
                    Ok(())
                })),
                SyncWrite::Pending,
            )
            .unwrap();
        }
        lp.run(RunMode::NoWait).unwrap();
        lp.close().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), made);
    }
    assert_eq!(drops.load(Ordering::SeqCst), made);
    assert_eq!(open_fds(), before);
}

#[test]
fn thousands_of_connections_opened_and_closed_leave_the_fd_count_where_it_was() {
    let _serial = serial();
    let lp = real_loop();
    let server = lp
        .tcp_listen(
            loopback(),
            ListenOptions::default(),
            Task::new(|lp, event| {
                let Event::Connection(Ok(conn)) = event else {
                    panic!("{event:?}")
                };
                lp.close_handle(conn, None).unwrap();
                Ok(())
            }),
        )
        .unwrap();
    let port = port_of(&lp, server);
    let before = open_fds();
    const ROUNDS: usize = 20;
    const AT_ONCE: usize = 100;
    let ended = Arc::new(AtomicUsize::new(0));
    for _ in 0..ROUNDS {
        for _ in 0..AT_ONCE {
            let client = lp
                .tcp_connect("127.0.0.1", port, Task::new(|_, _| Ok(())))
                .unwrap();
            let ended = ended.clone();
            lp.read_start(
                client,
                Task::new(move |lp, event| {
                    assert!(matches!(event, Event::Read(ReadEvent::Eof)), "{event:?}");
                    ended.fetch_add(1, Ordering::Relaxed);
                    lp.close_handle(client, None).unwrap();
                    Ok(())
                }),
            )
            .unwrap();
        }
        lp.set_ref(server, false).unwrap();
        lp.run(RunMode::Default).unwrap();
        lp.set_ref(server, true).unwrap();
    }
    assert_eq!(ended.load(Ordering::Relaxed), ROUNDS * AT_ONCE);
    assert_eq!(open_fds(), before);
    lp.close_handle(server, None).unwrap();
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn the_timeline_names_each_io_callback_by_kind_and_stream() {
    let _serial = serial();
    let lp = real_loop();
    lp.record(true);
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    theirs.write_all(b"ping").unwrap();
    drop(theirs);
    lp.read_start(
        id,
        Task::labeled("reader", move |lp, event| {
            if let Event::Read(ReadEvent::Eof) = event {
                lp.close_handle(id, Some(Task::labeled("closer", |_, _| Ok(()))))
                    .unwrap();
            }
            Ok(())
        }),
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    let seen: Vec<(String, String, u64, Option<&str>)> = lp
        .timeline()
        .iter()
        .map(|r| {
            (
                r.phase.map(|p| p.name()).unwrap_or("").to_owned(),
                r.kind.name().to_owned(),
                r.id,
                r.label,
            )
        })
        .collect();
    let raw = id.as_u64();
    assert_eq!(
        seen,
        [
            ("poll".to_owned(), "read".to_owned(), raw, Some("reader")),
            ("poll".to_owned(), "read".to_owned(), raw, Some("reader")),
            ("close".to_owned(), "close".to_owned(), raw, Some("closer")),
        ]
    );
}

#[test]
fn closing_a_stream_whose_host_lookup_waits_for_the_pool_lets_run_return() {
    // The pool's only thread is busy, so the lookup of "localhost" is still queued when the
    // stream closes: the close cancels it, and nothing of it may keep the loop alive.
    let _serial = serial();
    let lp: Loop<Task> = Loop::new(phaseloop_core::LoopOptions {
        threadpool_size: Some(1),
        ..Default::default()
    })
    .unwrap();
    let log = Log::default();
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    lp.queue_work(
        Box::new(move || {
            let _ = blocked.recv_timeout(Duration::from_secs(10));
            Ok(Box::new(()) as phaseloop_core::JobOutput)
        }),
        Some(log.task("busy job done")),
    )
    .unwrap();
    let log2 = log.clone();
    let client = lp
        .tcp_connect(
            "localhost",
            9,
            Task::new(move |lp, event| {
                let Event::Connect(Err(err)) = event else {
                    panic!("{event:?}")
                };
                assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
                log2.push(format!("connect cancelled in the {} phase", phase(lp)));
                Ok(())
            }),
        )
        .unwrap();
    lp.close_handle(client, Some(log.task("closed"))).unwrap();
    release.send(()).unwrap();
    // A watchdog stops a loop that would otherwise never return, so that the test fails
    // instead of hanging.
    let remote = lp.remote().unwrap();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let stopped = Arc::new(Mutex::new(false));
    let stopped2 = stopped.clone();
    let watchdog = thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(10)).is_err() {
            let _ = remote.call(Task::new(move |lp, _| {
                *stopped2.lock().unwrap() = true;
                lp.stop();
                Ok(())
            }));
        }
    });
    lp.run(RunMode::Default).unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    assert!(!*stopped.lock().unwrap(), "run() did not return on its own");
    // The busy job's completion may come in the first poll phase or a later one; the
    // connect's cancellation comes before the close callback, in the close phase.
    let mut entries = log.entries();
    entries.retain(|e| e != "busy job done");
    assert_eq!(
        entries,
        vec!["connect cancelled in the close phase", "closed"]
    );
    assert_eq!(log.len(), 3, "{:?}", log.entries());
    assert!(!lp.alive());
}

#[test]
fn a_stream_over_an_fd_leaves_it_open_when_the_stream_or_the_loop_closes() {
    use std::os::fd::AsRawFd;
    let _serial = serial();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let lp = real_loop();
    let id = lp.stream_over(ours.as_raw_fd()).unwrap();
    lp.close_handle(id, None).unwrap();
    lp.run(RunMode::Default).unwrap();
    // Still open, and still ours: it carries bytes both ways.
    (&ours).write_all(b"a").unwrap();
    let mut byte = [0u8; 1];
    (&theirs).read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"a");
    let id = lp.stream_over(ours.as_raw_fd()).unwrap();
    lp.close().unwrap();
    drop(lp);
    let _ = id;
    (&theirs).write_all(b"b").unwrap();
    (&ours).read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"b");
}

#[test]
fn a_read_size_set_on_a_stream_hands_over_chunks_that_large() {
    let _serial = serial();
    let lp = real_loop();
    let (ours, theirs) = UnixStream::pair().unwrap();
    theirs
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let id = lp.pipe_open(ours.into_raw_fd()).unwrap();
    assert!(lp.set_read_size(id, 0).is_err());
    assert!(lp
        .set_read_size(id, phaseloop_core::net::MAX_READ_SIZE + 1)
        .is_err());
    lp.set_read_size(id, 200 * 1024).unwrap();
    // More than the default 64 KiB waits in the socket before the first read.
    (&theirs).write_all(&vec![b'y'; 150 * 1024]).unwrap();
    let sizes = Arc::new(Mutex::new(Vec::new()));
    {
        let sizes = sizes.clone();
        lp.read_start(
            id,
            Task::new(move |lp, event| {
                if let Event::Read(ReadEvent::Data(data)) = event {
                    sizes.lock().unwrap().push(data.len());
                    lp.close_handle(id, None).unwrap();
                }
                Ok(())
            }),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*sizes.lock().unwrap(), [150 * 1024]);
    drop(theirs);
}
