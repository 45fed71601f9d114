//! Native jobs for the worker pool: real work that needs no host language (and, from Python,
//! runs without the GIL). Each returns a [`Job`] for [`crate::Loop::queue_work`]; its
//! [`crate::WorkOutcome::Done`] value is a `Vec<u8>` (or `()` for `sleep` and `write_file`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use flate2::write::{ZlibDecoder, ZlibEncoder};
use flate2::Compression;
use sha2::{Digest as _, Sha256, Sha512};

use crate::error::Error;
use crate::pool::Job;
use crate::work_outcome::JobOutput;

/// The hash PBKDF2 uses.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Digest {
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Digest {
    /// Parses `"sha256"` / `"sha512"`.
    pub fn from_name(name: &str) -> Result<Digest, Error> {
        match name {
            "sha256" => Ok(Digest::Sha256),
            "sha512" => Ok(Digest::Sha512),
            _ => Err(Error::InvalidArgument(
                "digest must be \"sha256\" or \"sha512\"",
            )),
        }
    }
}

fn bytes(value: Vec<u8>) -> JobOutput {
    Box::new(value)
}

/// Sleeps `ms` milliseconds on a pool thread (a stand-in for blocking work).
pub fn sleep(ms: u64) -> Job {
    Box::new(move || {
        std::thread::sleep(Duration::from_millis(ms));
        Ok(Box::new(()) as JobOutput)
    })
}

/// Reads a whole file.
pub fn read_file(path: PathBuf) -> Job {
    Box::new(move || Ok(bytes(std::fs::read(path)?)))
}

/// Writes (creates or truncates) a whole file.
pub fn write_file(path: PathBuf, data: Vec<u8>) -> Job {
    Box::new(move || {
        std::fs::write(path, data)?;
        Ok(Box::new(()) as JobOutput)
    })
}

/// The SHA-256 digest of `data` (32 bytes).
pub fn sha256(data: Vec<u8>) -> Job {
    Box::new(move || Ok(bytes(Sha256::digest(&data).to_vec())))
}

/// PBKDF2-HMAC of `password` and `salt` (as Node's `crypto.pbkdf2`).
pub fn pbkdf2(
    password: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
    keylen: usize,
    digest: Digest,
) -> Result<Job, Error> {
    if iterations == 0 {
        return Err(Error::InvalidArgument("iterations must be at least 1"));
    }
    if keylen == 0 || keylen > 1 << 30 {
        return Err(Error::InvalidArgument("keylen must be between 1 and 2**30"));
    }
    Ok(Box::new(move || {
        let mut key = vec![0u8; keylen];
        match digest {
            Digest::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(&password, &salt, iterations, &mut key),
            Digest::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(&password, &salt, iterations, &mut key),
        }
        Ok(bytes(key))
    }))
}

/// zlib-deflates `data` at `level` 0..=9 (as Node's `zlib.deflate`).
pub fn deflate(data: Vec<u8>, level: u32) -> Result<Job, Error> {
    if level > 9 {
        return Err(Error::InvalidArgument("level must be between 0 and 9"));
    }
    Ok(Box::new(move || {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(level));
        encoder.write_all(&data)?;
        Ok(bytes(encoder.finish()?))
    }))
}

/// Inflates zlib-deflated `data`; corrupt input is an error outcome.
pub fn inflate(data: Vec<u8>) -> Job {
    Box::new(move || {
        let mut decoder = ZlibDecoder::new(Vec::new());
        decoder.write_all(&data)?;
        Ok(bytes(decoder.finish()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(job: Job) -> Vec<u8> {
        *job().unwrap().downcast::<Vec<u8>>().unwrap()
    }

    #[test]
    fn sha256_of_abc_is_the_standard_vector() {
        let digest = run(sha256(b"abc".to_vec()));
        assert_eq!(
            digest[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "FIPS 180-2 test vector"
        );
    }

    #[test]
    fn pbkdf2_matches_rfc_7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256, "passwd", "salt", c = 1, dkLen = 64.
        let key = run(pbkdf2(b"passwd".to_vec(), b"salt".to_vec(), 1, 64, Digest::Sha256).unwrap());
        assert_eq!(key[..4], [0x55, 0xac, 0x04, 0x6e]);
    }

    #[test]
    fn deflate_then_inflate_round_trips_and_corrupt_input_fails() {
        let data = b"phaseloop phaseloop phaseloop".repeat(10);
        let packed = run(deflate(data.clone(), 6).unwrap());
        assert!(packed.len() < data.len());
        assert_eq!(run(inflate(packed)), data);
        assert!(inflate(b"not zlib".to_vec())().is_err());
        assert!(deflate(vec![], 10).is_err());
    }
}
