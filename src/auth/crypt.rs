//! `password <hash>`: crypt(3) hashes checked by the system's libcrypt
//! (libxcrypt), the library HAProxy itself calls, so every format HAProxy
//! accepts works the same: SHA-512 `$6$`, SHA-256 `$5$`, MD5 `$1$`,
//! traditional DES, bcrypt `$2b$`, yescrypt `$y$` (what `mkpasswd` makes on
//! Debian today), and the others libxcrypt has. No Rust crate covers that
//! set, and a second implementation could disagree with HAProxy's.
//!
//! `crypt_rn` is used: thread-safe with a caller-owned work area, and it
//! answers NULL on any error (never libxcrypt's `*0` failure string), so an
//! unsupported hash is refused at load.
//!
//! Verifying is slow on purpose (SHA-512 runs 5000 rounds, bcrypt and
//! yescrypt more), and HAProxy redoes it for every request. Each worker
//! keeps instead the last [`CACHE_SLOTS`] successful checks (userlist, user,
//! password): a keep-alive client resending the same `Authorization`
//! header costs one comparison. Only successes are kept, so a wrong
//! password always pays the full cost, and the cache is bounded.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};

#[link(name = "crypt")]
unsafe extern "C" {
    fn crypt_rn(
        phrase: *const c_char,
        setting: *const c_char,
        data: *mut c_void,
        size: c_int,
    ) -> *mut c_char;
}

/// `sizeof(struct crypt_data)` in libxcrypt (a fixed part of its ABI).
const CRYPT_DATA_SIZE: usize = 32768;

/// crypt's work area, aligned beyond what its `char` fields need.
#[repr(C, align(16))]
struct CryptData([u8; CRYPT_DATA_SIZE]);

/// How many successful checks each worker remembers.
pub const CACHE_SLOTS: usize = 16;

/// One remembered success.
struct Slot {
    list: u64,
    user: usize,
    pass: Vec<u8>,
}

/// A worker's crypt work area and its cache of successes.
struct Worker {
    data: Box<CryptData>,
    slots: Vec<Slot>,
    /// The slot the next success replaces once all are used (round robin).
    next: usize,
}

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

/// Hashes `phrase` with `setting` (a whole hash, or its salt part); `None`
/// when libcrypt does not support the setting or either has a NUL.
fn hash_with(data: &mut CryptData, phrase: &[u8], setting: &CStr) -> Option<Vec<u8>> {
    let phrase = CString::new(phrase).ok()?;
    // libxcrypt requires the area zeroed (or `initialized` cleared) before use;
    // it is zeroed when allocated and crypt_rn keeps it consistent after.
    // SAFETY: both strings are NUL-terminated and live across the call;
    // `data` is a live, exclusively borrowed area of exactly the size passed;
    // the result, when not NULL, points into `data` and is copied out before
    // `data` is touched again.
    unsafe {
        let out = crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.0.as_mut_ptr().cast(),
            CRYPT_DATA_SIZE as c_int,
        );
        if out.is_null() {
            return None;
        }
        Some(CStr::from_ptr(out).to_bytes().to_vec())
    }
}

fn with_worker<R>(f: impl FnOnce(&mut Worker) -> R) -> R {
    WORKER.with(|w| {
        let mut w = w.borrow_mut();
        let w = w.get_or_insert_with(|| Worker {
            data: Box::new(CryptData([0; CRYPT_DATA_SIZE])),
            slots: Vec::new(),
            next: 0,
        });
        f(w)
    })
}

/// Checks at load that libcrypt supports `hash` (HAProxy's own test:
/// hashing the empty password with it must work).
pub fn supported(hash: &str) -> Result<CString, String> {
    let setting = CString::new(hash).map_err(|_| "a NUL in the hash".to_string())?;
    if hash.is_empty() || hash.starts_with('*') || hash.starts_with('!') {
        return Err("not a crypt(3) hash".into());
    }
    // Fuzzed configurations could name a hash whose cost takes hours
    // (`$2b$31$`): fuzz builds check the form only.
    if cfg!(fuzzing) {
        return Ok(setting);
    }
    match with_worker(|w| hash_with(&mut w.data, b"", &setting)) {
        Some(_) => Ok(setting),
        None => Err("a hash format the system's crypt(3) does not support".into()),
    }
}

/// Whether `pass` hashes to `hash` for user `user` of userlist `list`
/// (cached per worker when it does).
pub fn verify(list: u64, user: usize, hash: &CStr, pass: &[u8]) -> bool {
    with_worker(|w| {
        let hit = w
            .slots
            .iter()
            .any(|s| s.list == list && s.user == user && constant_time_eq(&s.pass, pass));
        if hit {
            return true;
        }
        let ok = hash_with(&mut w.data, pass, hash)
            .is_some_and(|out| constant_time_eq(&out, hash.to_bytes()));
        if ok {
            remember(w, list, user, pass);
        }
        ok
    })
}

fn remember(w: &mut Worker, list: u64, user: usize, pass: &[u8]) {
    // A user's previous entry is replaced rather than kept beside the new one.
    let i = match w
        .slots
        .iter()
        .position(|s| s.list == list && s.user == user)
    {
        Some(i) => i,
        None if w.slots.len() < CACHE_SLOTS => {
            w.slots.push(Slot {
                list,
                user,
                pass: Vec::new(),
            });
            w.slots.len() - 1
        }
        None => {
            let i = w.next;
            w.next = (w.next + 1) % CACHE_SLOTS;
            i
        }
    };
    let s = &mut w.slots[i];
    s.list = list;
    s.user = user;
    s.pass.clear();
    s.pass.extend_from_slice(pass);
}

/// Compares in a time that depends on the lengths only, not on where bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How many successes this worker remembers (for tests).
#[cfg(test)]
pub fn cached() -> usize {
    with_worker(|w| w.slots.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `openssl passwd -6/-5/-1 -salt saltsalt` and Python's crypt.
    const SHA512: &str = "$6$saltsalt$vqfwhgbpDQsmrvB6w5/8F5c4CO40.Qu2BBSXMRAH03mtpJ3D3UncG8x1f8qam566S8Gqa9EQmwIXTEp9knEjA.";
    const SHA256: &str = "$5$saltsalt$zOFVkp0Kz29x0a6a4dSx8FZisA8Iwb0KzzvoRDFTN/8";
    const MD5: &str = "$1$saltsalt$bIQc.PIdGyyoVvhKbQOAT/";
    const DES: &str = "abpBHE1iFCMtc";
    const BCRYPT: &str = "$2b$05$abcdefghijklmnopqrstuuqaAhbBDn3m4RSMow48aGKhH4o1u/vF2";
    const YESCRYPT: &str =
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$vfrMzgKICm8kiF65mdhfrEqvwXhQL6YDyc72jdMob6D";

    fn check(hash: &str, pass: &str) -> bool {
        let setting = supported(hash).unwrap();
        // A fresh list id each time: the cache must not answer for the hash.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 40);
        let id = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        verify(id, 0, &setting, pass.as_bytes())
    }

    #[test]
    fn known_vectors() {
        for (hash, pass) in [
            (SHA512, "pw6"),
            (SHA256, "pw5"),
            (MD5, "pw1"),
            (DES, "pwdes"),
            (BCRYPT, "pwb"),
            (YESCRYPT, "pwy"),
        ] {
            assert!(check(hash, pass), "{hash}");
            assert!(!check(hash, &format!("{pass}x")), "{hash}");
            assert!(!check(hash, ""), "{hash}");
        }
    }

    #[test]
    fn unsupported_formats_are_refused() {
        for bad in ["$9$zzz", "", "*", "!locked", "$2b$99$x", "a\0b"] {
            assert!(supported(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn successes_are_cached_and_bounded() {
        let setting = supported(SHA512).unwrap();
        let list = 7 << 40;
        assert!(verify(list, 1, &setting, b"pw6"));
        let before = cached();
        assert!(verify(list, 1, &setting, b"pw6"), "answered from the cache");
        assert_eq!(cached(), before, "the same success takes no new slot");
        assert!(
            !verify(list, 1, &setting, b"pw6x"),
            "a wrong password is never cached"
        );
        // Another user of the same list with the same password is not let in by
        // the first user's entry.
        let md5 = supported(MD5).unwrap();
        assert!(!verify(list, 2, &md5, b"pw6"));
        for u in 0..(CACHE_SLOTS + 5) {
            assert!(verify(list + 1, u, &supported(MD5).unwrap(), b"pw1"));
        }
        assert_eq!(cached(), CACHE_SLOTS);
    }
}
