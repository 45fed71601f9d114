//! UDP sockets on the loop (docs/ordering.md, rule 9): datagrams in the poll phase, a send the
//! kernel takes at once completing in the pending phase, queued sends cancelled at a close,
//! connected UDP, and the lifecycle every handle shares.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use common::{real_loop, Log};
use phaseloop_core::{Error, Event, Id, Loop, NetAddr, RunMode, SyncWrite, Task};

fn port_of(lp: &Loop<Task>, id: Id) -> u16 {
    match lp.local_address(id).unwrap() {
        NetAddr::Inet(addr) => addr.port(),
        other => panic!("{other:?}"),
    }
}

fn phase(lp: &Loop<Task>) -> &'static str {
    lp.phase().map(|p| p.name()).unwrap_or("outside")
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn a_round_trip_receives_in_poll_and_completes_sends_in_pending() {
    let lp = real_loop();
    let log = Log::default();
    let server = lp.udp_open(false).unwrap();
    lp.udp_bind(server, loopback(0), false, false).unwrap();
    let server_port = port_of(&lp, server);
    {
        let log = log.clone();
        lp.udp_recv_start(
            server,
            Task::new(move |lp, event| {
                let Event::Datagram(Ok(d)) = event else {
                    panic!("{event:?}")
                };
                log.push(format!(
                    "{}:server got {}",
                    phase(lp),
                    String::from_utf8_lossy(d.data)
                ));
                let reply = format!("echo {}", String::from_utf8_lossy(d.data)).into_bytes();
                let log = log.clone();
                lp.udp_send(
                    server,
                    reply,
                    Some(d.from),
                    Some(Task::new(move |lp, event| {
                        assert!(matches!(event, Event::Written(Ok(()))), "{event:?}");
                        log.push(format!("{}:server sent", phase(lp)));
                        Ok(())
                    })),
                    SyncWrite::Pending,
                )
                .unwrap();
                Ok(())
            }),
        )
        .unwrap();
    }
    let client = lp.udp_open(false).unwrap();
    {
        let log = log.clone();
        lp.udp_recv_start(
            client,
            Task::new(move |lp, event| {
                let Event::Datagram(Ok(d)) = event else {
                    panic!("{event:?}")
                };
                assert_eq!(d.from, loopback(server_port));
                assert!(!d.truncated);
                log.push(format!(
                    "{}:client got {}",
                    phase(lp),
                    String::from_utf8_lossy(d.data)
                ));
                lp.close_handle(client, None).unwrap();
                lp.close_handle(server, None).unwrap();
                Ok(())
            }),
        )
        .unwrap();
    }
    let log2 = log.clone();
    lp.udp_send(
        client,
        b"ping".to_vec(),
        Some(loopback(server_port)),
        Some(Task::new(move |lp, _| {
            log2.push(format!("{}:client sent", phase(lp)));
            Ok(())
        })),
        SyncWrite::Pending,
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        log.entries(),
        [
            "pending:client sent",
            "poll:server got ping",
            "pending:server sent",
            "poll:client got echo ping",
        ]
    );
    assert!(!lp.alive());
}

#[test]
fn connected_udp_sends_without_an_address_and_hears_a_refusal() {
    let lp = real_loop();
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let id = lp.udp_open(false).unwrap();
    lp.udp_connect(id, loopback(port)).unwrap();
    assert!(matches!(lp.peer_address(id).unwrap(), NetAddr::Inet(a) if a.port() == port));
    // An address on a connected socket is refused, with the callback handed back.
    let refused = lp
        .udp_send(
            id,
            b"x".to_vec(),
            Some(loopback(port)),
            Some(Task::new(|_, _| Ok(()))),
            SyncWrite::Pending,
        )
        .unwrap_err();
    assert!(refused.callback.is_some());
    assert!(matches!(refused.error, Error::Io(ref e) if e.raw_os_error() == Some(libc::EISCONN)));
    let log = Log::default();
    let log2 = log.clone();
    lp.udp_recv_start(
        id,
        Task::new(move |lp, event| {
            match event {
                Event::Datagram(Err(err)) => {
                    log2.push(format!("{}:{}", phase(lp), err.raw_os_error().unwrap()))
                }
                other => panic!("{other:?}"),
            }
            lp.close_handle(id, None).unwrap();
            Ok(())
        }),
    )
    .unwrap();
    lp.udp_send(id, b"anyone?".to_vec(), None, None, SyncWrite::Pending)
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), [format!("poll:{}", libc::ECONNREFUSED)]);
}

#[test]
fn an_unconnected_send_without_an_address_is_edestaddrreq() {
    let lp = real_loop();
    let id = lp.udp_open(false).unwrap();
    let refused = lp
        .udp_send(
            id,
            // A boxed list is accepted as it is (hosts that already hold one).
            Box::new(b"x".to_vec()) as Box<dyn phaseloop_core::WriteBufs>,
            None,
            None,
            SyncWrite::Pending,
        )
        .unwrap_err();
    assert!(
        matches!(refused.error, Error::Io(ref e) if e.raw_os_error() == Some(libc::EDESTADDRREQ))
    );
    lp.close_handle(id, None).unwrap();
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn binding_a_port_in_use_is_eaddrinuse_unless_both_reuse_it() {
    let lp = real_loop();
    let a = lp.udp_open(false).unwrap();
    lp.udp_bind(a, loopback(0), true, false).unwrap();
    let port = port_of(&lp, a);
    let b = lp.udp_open(false).unwrap();
    let err = lp.udp_bind(b, loopback(port), false, false).unwrap_err();
    assert!(matches!(err, Error::Io(ref e) if e.raw_os_error() == Some(libc::EADDRINUSE)));
    let c = lp.udp_open(false).unwrap();
    lp.udp_bind(c, loopback(port), true, false).unwrap();
    // Binding twice is EINVAL, as libuv says.
    let err = lp.udp_bind(c, loopback(0), false, false).unwrap_err();
    assert!(matches!(err, Error::Io(ref e) if e.raw_os_error() == Some(libc::EINVAL)));
    lp.udp_set_broadcast(c, true).unwrap();
    lp.udp_set_ttl(c, 64).unwrap();
    assert!(matches!(
        lp.udp_set_ttl(c, 0),
        Err(Error::InvalidArgument(_))
    ));
    lp.udp_set_multicast_ttl(c, 1).unwrap();
    lp.udp_set_multicast_loop(c, true).unwrap();
    assert!(matches!(
        lp.udp_set_membership(c, "127.0.0.1".parse().unwrap(), None, true),
        Err(Error::InvalidArgument(_))
    ));
    for id in [a, b, c] {
        lp.close_handle(id, None).unwrap();
    }
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn a_receiving_socket_is_an_active_handle_until_stopped_or_closed() {
    let lp = real_loop();
    let id = lp.udp_open(false).unwrap();
    assert!(!lp.is_active(id), "an idle socket is not active");
    lp.udp_recv_start(id, Task::new(|_, _| Ok(()))).unwrap();
    assert!(lp.is_active(id) && lp.alive());
    lp.set_ref(id, false).unwrap();
    assert!(!lp.alive());
    lp.set_ref(id, true).unwrap();
    lp.udp_recv_stop(id).unwrap();
    assert!(!lp.alive());
    let port = port_of(&lp, id);
    assert_ne!(port, 0, "the first receive bound it to a free port");
    lp.close_handle(id, None).unwrap();
    assert!(matches!(lp.udp_recv_stop(id), Err(Error::NotFound)));
}

#[test]
fn datagrams_received_count_in_bytes_read_and_large_ones_arrive_whole() {
    let lp = real_loop();
    let id = lp.udp_open(false).unwrap();
    lp.udp_bind(id, loopback(0), false, false).unwrap();
    let port = port_of(&lp, id);
    let got = Arc::new(Mutex::new(Vec::new()));
    let got2 = got.clone();
    lp.udp_recv_start(
        id,
        Task::new(move |lp, event| {
            let Event::Datagram(Ok(d)) = event else {
                panic!()
            };
            got2.lock().unwrap().push((d.data.len(), d.truncated));
            if got2.lock().unwrap().len() == 2 {
                lp.close_handle(id, None).unwrap();
            }
            Ok(())
        }),
    )
    .unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(&vec![7u8; 60_000], loopback(port)).unwrap();
    peer.send_to(b"", loopback(port)).unwrap();
    let (_, before) = lp.stream_bytes(id).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*got.lock().unwrap(), [(60_000, false), (0, false)]);
    assert_eq!(before, 0);
}

#[test]
fn closing_right_after_sends_runs_their_callbacks_before_the_close_callback() {
    let lp = real_loop();
    let id = lp.udp_open(false).unwrap();
    let log = Log::default();
    let target = loopback(9);
    for n in 0..3 {
        let log = log.clone();
        lp.udp_send(
            id,
            vec![n as u8; 10],
            Some(target),
            Some(Task::new(move |lp, event| {
                let Event::Written(result) = event else {
                    panic!()
                };
                log.push(format!(
                    "{}:send{n}:{}",
                    phase(lp),
                    result
                        .map(|_| 0)
                        .unwrap_or_else(|e| e.raw_os_error().unwrap())
                ));
                Ok(())
            })),
            SyncWrite::Pending,
        )
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
    lp.run(RunMode::Default).unwrap();
    // Sent at once: each finished send runs before the close callback, in order, in the close
    // phase (the close took them out of the pending queue with their own result).
    assert_eq!(
        log.entries(),
        [
            "close:send0:0",
            "close:send1:0",
            "close:send2:0",
            "close:close"
        ]
    );
}

#[test]
fn a_udp_socket_over_an_fd_receives_and_leaves_the_fd_open() {
    use std::os::fd::AsRawFd;
    let lp = real_loop();
    let ours = UdpSocket::bind("127.0.0.1:0").unwrap();
    let theirs = UdpSocket::bind("127.0.0.1:0").unwrap();
    let id = lp.udp_over(ours.as_raw_fd()).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    {
        let got = got.clone();
        lp.udp_recv_start(
            id,
            Task::new(move |lp, event| {
                if let Event::Datagram(Ok(d)) = event {
                    got.lock().unwrap().push((d.data.to_vec(), d.from));
                    lp.close_handle(id, None).unwrap();
                }
                Ok(())
            }),
        )
        .map_err(|r| r.error)
        .unwrap();
    }
    theirs.send_to(b"over", ours.local_addr().unwrap()).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        [(b"over".to_vec(), theirs.local_addr().unwrap())]
    );
    // The stream is closed; the socket is still open and still the caller's.
    ours.send_to(b"still", theirs.local_addr().unwrap())
        .unwrap();
    let mut buf = [0u8; 8];
    let (n, _) = theirs.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"still");
    // A stream socket is not a UDP socket.
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(lp.udp_over(tcp.as_raw_fd()).is_err());
}
