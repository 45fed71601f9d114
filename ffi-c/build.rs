//! Gives the shared library a soname (Cargo sets none), so that programs linked against
//! `libphaseloop.so` record `libphaseloop.so.MAJOR` and keep working across compatible updates.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    // ELF platforms take -soname; macOS names a dylib by its install name instead.
    match os.as_str() {
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly" | "illumos" => {
            println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libphaseloop.so.{major}");
        }
        "macos" | "ios" => {
            println!(
                "cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libphaseloop.{major}.dylib"
            );
        }
        _ => {}
    }
}
