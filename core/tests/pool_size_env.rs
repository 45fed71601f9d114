//! The worker pool's size: the `threadpool_size` option, else the environment variable
//! `PHASELOOP_THREADPOOL_SIZE`, else 4; sizes outside 1..=1024 are refused.
//!
//! The environment is process-wide and tests run on parallel threads, so this binary holds
//! only these tests, and they take `ENV_LOCK` before touching the variable.

use std::sync::Mutex;

use phaseloop_core::{
    Error, Loop, LoopOptions, Task, DEFAULT_THREADPOOL_SIZE, MAX_THREADPOOL_SIZE,
};

const VAR: &str = "PHASELOOP_THREADPOOL_SIZE";

/// Serializes the tests that set or remove `VAR`.
static ENV_LOCK: Mutex<()> = Mutex::new(());

fn options(size: Option<usize>) -> LoopOptions {
    LoopOptions {
        threadpool_size: size,
        ..Default::default()
    }
}

/// The size a loop created with `size` and the variable set to `env` (or unset) gets.
fn pool_size(size: Option<usize>, env: Option<&str>) -> Result<usize, Error> {
    match env {
        Some(value) => std::env::set_var(VAR, value),
        None => std::env::remove_var(VAR),
    }
    let resolved = options(size).resolved_threadpool_size();
    let created = Loop::<Task>::new(options(size)).map(|lp| lp.threadpool_size());
    std::env::remove_var(VAR);
    // The loop sizes its pool exactly as the options resolve.
    match (&resolved, &created) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("resolved {resolved:?} but a loop got {created:?}"),
    }
    created
}

#[test]
fn the_option_wins_then_the_environment_then_four() {
    let _env = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(DEFAULT_THREADPOOL_SIZE, 4);
    assert_eq!(pool_size(None, None).unwrap(), 4);
    assert_eq!(pool_size(None, Some("7")).unwrap(), 7);
    assert_eq!(
        pool_size(None, Some(" 2\n")).unwrap(),
        2,
        "whitespace trimmed"
    );
    assert_eq!(pool_size(Some(3), Some("7")).unwrap(), 3, "the option wins");
    assert_eq!(
        pool_size(Some(3), Some("not a number")).unwrap(),
        3,
        "the variable is not read when the option is given"
    );
    assert_eq!(pool_size(Some(1), None).unwrap(), 1);
    assert_eq!(
        pool_size(Some(MAX_THREADPOOL_SIZE), None).unwrap(),
        MAX_THREADPOOL_SIZE
    );
    assert_eq!(pool_size(None, Some("1024")).unwrap(), 1024);
}

#[test]
fn sizes_outside_one_to_1024_are_refused() {
    let _env = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for (size, env) in [
        (Some(0), None),
        (Some(MAX_THREADPOOL_SIZE + 1), None),
        (None, Some("0")),
        (None, Some("1025")),
        (None, Some("-1")),
        (None, Some("four")),
        (None, Some("")),
    ] {
        let result = pool_size(size, env);
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "option {size:?}, env {env:?}: {result:?}"
        );
    }
}
