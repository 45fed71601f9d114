//! Child processes on the loop: spawn errors at once, the exit callback in the poll phase
//! with the code or the signal, piped stdio as streams (every byte before the end), many
//! children at once with none left a zombie, and children outliving their handle or loop.

mod common;

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use common::{real_loop, Log};
use phaseloop_core::{
    Error, Event, ExitStatus, Loop, ReadEvent, RunMode, SpawnOptions, Stdio, Task,
};

fn options(program: &str, args: &[&str]) -> SpawnOptions {
    SpawnOptions {
        program: program.into(),
        args: args.iter().map(OsString::from).collect(),
        env: None,
        cwd: None,
        stdio: [Stdio::Ignore, Stdio::Pipe, Stdio::Ignore],
    }
}

fn phase(lp: &Loop<Task>) -> &'static str {
    lp.phase().map(|p| p.name()).unwrap_or("outside")
}

/// Whether `pid` is a zombie (or gone: `None`).
fn zombie(pid: u32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    Some(state == "Z")
}

#[test]
fn a_child_exits_in_the_poll_phase_after_its_stdout_is_read() {
    let lp = real_loop();
    let log = Log::default();
    let out = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let spawned = lp
        .spawn(
            &options("sh", &["-c", "printf hello; exit 3"]),
            Task::new(move |lp, event| {
                let Event::Exit(status) = event else {
                    panic!("{event:?}")
                };
                log2.push(format!(
                    "{}:exit {:?} {:?}",
                    phase(lp),
                    status.code,
                    status.signal
                ));
                Ok(())
            }),
        )
        .unwrap();
    assert!(spawned.pid > 0);
    let stdout = spawned.stdio[1].expect("piped");
    assert!(spawned.stdio[0].is_none() && spawned.stdio[2].is_none());
    let out2 = out.clone();
    let log3 = log.clone();
    lp.read_start(
        stdout,
        Task::new(move |lp, event| {
            match event {
                Event::Read(ReadEvent::Data(d)) => out2.lock().unwrap().extend_from_slice(d),
                Event::Read(ReadEvent::Eof) => {
                    log3.push("eof");
                    lp.close_handle(stdout, None).unwrap();
                }
                other => panic!("{other:?}"),
            }
            Ok(())
        }),
    )
    .unwrap();
    assert!(lp.is_active(spawned.id));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*out.lock().unwrap(), b"hello");
    let entries = log.entries();
    assert!(
        entries.contains(&"poll:exit Some(3) None".to_owned()),
        "{entries:?}"
    );
    assert!(entries.contains(&"eof".to_owned()), "{entries:?}");
    assert_eq!(
        lp.process_exit_status(spawned.id).unwrap(),
        Some(ExitStatus {
            code: Some(3),
            signal: None
        })
    );
    assert!(!lp.is_active(spawned.id));
    assert!(
        matches!(lp.process_kill(spawned.id, libc::SIGTERM), Err(Error::Io(e)) if e.raw_os_error() == Some(libc::ESRCH))
    );
    lp.close_handle(spawned.id, None).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(zombie(spawned.pid), None, "reaped");
}

#[test]
fn spawn_errors_come_back_at_once_with_the_callback() {
    let lp = real_loop();
    let missing = lp
        .spawn(&options("/no/such/program", &[]), Task::new(|_, _| Ok(())))
        .unwrap_err();
    assert!(matches!(missing.error, Error::Io(ref e) if e.raw_os_error() == Some(libc::ENOENT)));
    let dir = std::env::temp_dir().join(format!("phaseloop-spawn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("not-executable");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let denied = lp
        .spawn(
            &options(script.to_str().unwrap(), &[]),
            Task::new(|_, _| Ok(())),
        )
        .unwrap_err();
    assert!(matches!(denied.error, Error::Io(ref e) if e.raw_os_error() == Some(libc::EACCES)));
    let mut bad_cwd = options("true", &[]);
    bad_cwd.cwd = Some(dir.join("missing"));
    let cwd = lp.spawn(&bad_cwd, Task::new(|_, _| Ok(()))).unwrap_err();
    assert!(matches!(cwd.error, Error::Io(ref e) if e.raw_os_error() == Some(libc::ENOENT)));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!lp.alive());
    assert!(lp.handles().is_empty());
}

#[test]
fn a_killed_child_reports_the_signal() {
    let lp = real_loop();
    let log = Log::default();
    let log2 = log.clone();
    let mut opts = options("sleep", &["30"]);
    opts.stdio = [Stdio::Ignore; 3];
    let spawned = lp
        .spawn(
            &opts,
            Task::new(move |_, event| {
                if let Event::Exit(s) = event {
                    log2.push(format!("{:?} {:?}", s.code, s.signal));
                }
                Ok(())
            }),
        )
        .unwrap();
    lp.process_kill(spawned.id, libc::SIGKILL).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(log.entries(), [format!("None Some({})", libc::SIGKILL)]);
}

#[test]
fn two_hundred_children_at_once_all_exit_and_none_is_a_zombie() {
    let lp = real_loop();
    let exits = Arc::new(Mutex::new(0));
    let mut pids = Vec::new();
    let mut opts = options("true", &[]);
    opts.stdio = [Stdio::Ignore; 3];
    for _ in 0..200 {
        let exits = exits.clone();
        let spawned = lp
            .spawn(
                &opts,
                Task::new(move |lp, event| {
                    assert!(matches!(
                        event,
                        Event::Exit(ExitStatus { code: Some(0), .. })
                    ));
                    *exits.lock().unwrap() += 1;
                    let _ = lp;
                    Ok(())
                }),
            )
            .unwrap();
        pids.push((spawned.id, spawned.pid));
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*exits.lock().unwrap(), 200);
    for (id, pid) in pids {
        assert_eq!(zombie(pid), None, "pid {pid}");
        lp.close_handle(id, None).unwrap();
    }
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn env_cwd_and_an_fd_reach_the_child() {
    let lp = real_loop();
    let dir = std::env::temp_dir();
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    use std::os::fd::AsRawFd;
    let mut opts = options("sh", &["-c", "printf \"$GREETING:$(pwd)\""]);
    opts.env = Some(vec![
        ("GREETING".into(), "hi".into()),
        ("PATH".into(), "/usr/bin:/bin".into()),
    ]);
    opts.cwd = Some(dir.clone());
    opts.stdio = [Stdio::Ignore, Stdio::Fd(writer.as_raw_fd()), Stdio::Inherit];
    lp.spawn(&opts, Task::new(|_, _| Ok(()))).unwrap();
    lp.run(RunMode::Default).unwrap();
    drop(writer);
    use std::io::Read;
    let mut got = String::new();
    (&reader).read_to_string(&mut got).unwrap();
    let canonical = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(got, format!("hi:{}", canonical.display()));
}

#[test]
fn a_child_outliving_its_loop_is_reaped_and_not_left_a_zombie() {
    let pid = {
        let lp = real_loop();
        let mut opts = options("sleep", &["0.2"]);
        opts.stdio = [Stdio::Ignore; 3];
        let spawned = lp.spawn(&opts, Task::new(|_, _| Ok(()))).unwrap();
        lp.close().unwrap();
        spawned.pid
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while zombie(pid).is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(zombie(pid), None);
}

#[test]
fn an_unrefed_child_does_not_keep_the_loop_alive() {
    let lp = real_loop();
    let mut opts = options("sleep", &["5"]);
    opts.stdio = [Stdio::Ignore; 3];
    let spawned = lp.spawn(&opts, Task::new(|_, _| Ok(()))).unwrap();
    assert!(lp.has_ref(spawned.id).unwrap());
    lp.set_ref(spawned.id, false).unwrap();
    assert!(!lp.alive());
    lp.process_kill(spawned.id, libc::SIGTERM).unwrap();
    lp.set_ref(spawned.id, true).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        lp.process_exit_status(spawned.id).unwrap().unwrap().signal,
        Some(libc::SIGTERM)
    );
}
