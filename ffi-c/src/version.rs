//! The library's version: macros for compile time, `pl_version()` for run time, so a program can
//! check that the library it loaded is the one it was compiled against.

use std::os::raw::c_char;

use crate::guard::boundary;

/// The major version of the header (the soname is `libphaseloop.so.<major>`).
pub const PL_VERSION_MAJOR: u32 = 0;
/// The minor version of the header.
pub const PL_VERSION_MINOR: u32 = 1;
/// The patch version of the header.
pub const PL_VERSION_PATCH: u32 = 0;
/// The header's version as one number, `(major << 16) | (minor << 8) | patch`, the encoding that
/// pl_version() returns (libuv's `UV_VERSION_HEX` habit).
pub const PL_VERSION_HEX: u32 =
    (PL_VERSION_MAJOR << 16) | (PL_VERSION_MINOR << 8) | PL_VERSION_PATCH;

const fn parse(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// The library's version as Cargo built it, independent of the constants above (a unit test and
/// tests/c/test_version.c check that the two agree).
const BUILT_VERSION: u32 = (parse(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
    | (parse(env!("CARGO_PKG_VERSION_MINOR")) << 8)
    | parse(env!("CARGO_PKG_VERSION_PATCH"));

/// The version of the library loaded at run time, encoded as PL_VERSION_HEX is. Compare the two
/// to detect a program running against another library than the one it was compiled with.
/// Any thread.
#[no_mangle]
pub extern "C" fn pl_version() -> u32 {
    // Nothing here can panic; the guard is kept so that every exported function has one.
    boundary(0, || BUILT_VERSION)
}

/// The version of the library loaded at run time as text, "major.minor.patch". Static; any
/// thread.
#[no_mangle]
pub extern "C" fn pl_version_string() -> *const c_char {
    boundary(std::ptr::null(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_constants_match_the_crate_version() {
        assert_eq!(
            PL_VERSION_HEX,
            pl_version(),
            "bump PL_VERSION_* with Cargo.toml"
        );
        assert_eq!(
            format!("{PL_VERSION_MAJOR}.{PL_VERSION_MINOR}.{PL_VERSION_PATCH}"),
            env!("CARGO_PKG_VERSION")
        );
    }
}
