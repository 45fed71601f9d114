//! The core's names (phases, callback kinds) as static C strings, so pl_phase_name and
//! pl_kind_name spell them exactly as the core and the Python binding do.

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

/// NUL-terminated copies of a core name table (`Phase::NAMES`), made on first use and kept for
/// the life of the process, so the pointers handed to C stay valid.
pub(crate) struct CNames {
    names: &'static [&'static str],
    copies: OnceLock<Vec<CString>>,
}

impl CNames {
    /// The C strings of `names`, in the same order.
    pub(crate) const fn new(names: &'static [&'static str]) -> CNames {
        CNames {
            names,
            copies: OnceLock::new(),
        }
    }

    /// The C string of the `index`th name; `None` past the end.
    pub(crate) fn get(&'static self, index: usize) -> Option<&'static CStr> {
        let copies = self.copies.get_or_init(|| {
            // The core's names are ASCII words: none holds a NUL, so no copy falls back.
            self.names
                .iter()
                .map(|name| CString::new(*name).unwrap_or_default())
                .collect()
        });
        copies.get(index).map(CString::as_c_str)
    }
}
