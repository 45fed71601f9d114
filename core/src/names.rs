//! The names the bindings show for phases, callback kinds, clocks, drain modes and run modes,
//! and their parsers: spelled once here so the Python and C bindings cannot drift apart.

use std::fmt;
use std::str::FromStr;

use crate::clock::ClockKind;
use crate::options::{DrainMode, RunMode};
use crate::trace::{Kind, Phase};

/// A name that is not one of a type's names (`"bogus"` for a run mode); its message names the
/// argument and every valid value: `mode must be "default", "once" or "nowait", not "bogus"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// The argument the name was given for (`"clock"`, `"drain"`, `"mode"`, ...).
    pub argument: &'static str,
    /// The valid names, in the type's order.
    pub valid: &'static [&'static str],
    /// The name that was given.
    pub given: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be ", self.argument)?;
        for (i, name) in self.valid.iter().enumerate() {
            if i > 0 {
                let last = i + 1 == self.valid.len();
                f.write_str(if last { " or " } else { ", " })?;
            }
            write!(f, "{name:?}")?;
        }
        write!(f, ", not {:?}", self.given)
    }
}

impl std::error::Error for UnknownName {}

/// Gives `$ty` its `ALL` values, `NAMES`, `name()`, `from_name()`, `FromStr` and `Display`
/// from one table of variants and names.
macro_rules! names {
    ($ty:ident, $argument:literal, $what:literal, { $($variant:ident => $name:literal,)+ }) => {
        impl $ty {
            #[doc = concat!("Every ", $what, ", in the order the docs list them.")]
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)+];

            #[doc = concat!("The name of every ", $what, ", in the order of [`", stringify!($ty), "::ALL`].")]
            pub const NAMES: &'static [&'static str] = &[$($name,)+];

            #[doc = concat!("The ", $what, "'s name as the docs and bindings spell it.")]
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            #[doc = concat!("The ", $what, " called `name`, if there is one.")]
            pub fn from_name(name: &str) -> Option<$ty> {
                match name {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<$ty, UnknownName> {
                $ty::from_name(name).ok_or_else(|| UnknownName {
                    argument: $argument,
                    valid: $ty::NAMES,
                    given: name.to_owned(),
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(Phase, "phase", "phase", {
    Timers => "timers",
    Pending => "pending",
    Idle => "idle",
    Prepare => "prepare",
    Poll => "poll",
    Check => "check",
    Close => "close",
});

names!(Kind, "kind", "callback kind", {
    Timeout => "timeout",
    Interval => "interval",
    Pending => "pending",
    Idle => "idle",
    Prepare => "prepare",
    Io => "io",
    Work => "work",
    Threadsafe => "threadsafe",
    Signal => "signal",
    Immediate => "immediate",
    Check => "check",
    Close => "close",
    Tick => "tick",
    Microtask => "microtask",
    Connection => "connection",
    Connect => "connect",
    Read => "read",
    Write => "write",
    Shutdown => "shutdown",
    Udp => "udp",
    Exit => "exit",
});

names!(ClockKind, "clock", "clock", {
    Real => "real",
    Virtual => "virtual",
});

names!(DrainMode, "drain", "drain mode", {
    Callback => "callback",
    Phase => "phase",
});

names!(RunMode, "mode", "run mode", {
    Default => "default",
    Once => "once",
    NoWait => "nowait",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_value() {
        for &phase in Phase::ALL {
            assert_eq!(phase.name().parse::<Phase>(), Ok(phase));
        }
        for &kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(kind));
        }
        for &clock in ClockKind::ALL {
            assert_eq!(clock.to_string().parse::<ClockKind>(), Ok(clock));
        }
        for &drain in DrainMode::ALL {
            assert_eq!(DrainMode::from_name(drain.name()), Some(drain));
        }
        for &mode in RunMode::ALL {
            assert_eq!(RunMode::from_name(mode.name()), Some(mode));
        }
    }

    #[test]
    fn phases_are_listed_in_the_order_they_run() {
        assert_eq!(
            Phase::NAMES,
            ["timers", "pending", "idle", "prepare", "poll", "check", "close"]
        );
    }

    #[test]
    fn an_unknown_name_names_the_argument_and_every_valid_value() {
        let err = "bogus".parse::<RunMode>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "mode must be \"default\", \"once\" or \"nowait\", not \"bogus\""
        );
        let err = "Real".parse::<ClockKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "clock must be \"real\" or \"virtual\", not \"Real\""
        );
        assert_eq!(DrainMode::from_name(""), None);
    }
}
