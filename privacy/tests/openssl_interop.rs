//! Interoperability with the OpenSSL 3 command line (`openssl`, Debian's 3.0.x).
//!
//! A regulator receives keys, wraps and signatures made by other software, and
//! OpenSSL is the reference implementation most of it is checked against. These
//! tests drive the real `openssl` binary through temporary files and check,
//! in both directions:
//!
//! - SM2 keys: `openssl genpkey -algorithm SM2` keys (plain, AES-encrypted by
//!   `genpkey`, SM4-encrypted by `pkcs8 -topk8 -v2 sm4-cbc`) load as regulator
//!   keys, and our plain and PBKDF2-HMAC-SHA256 PKCS#8 exports load in OpenSSL;
//! - SM2 encryption in GM/T 0009 DER, including coordinates with a leading
//!   zero byte or the high bit set;
//! - SM2 signatures with the user id `1234567812345678`, and the pitfall of
//!   OpenSSL's default (empty) user id;
//! - SM4-CBC and SM4-CTR against `openssl enc`.
//!
//! The tests need `openssl` on `PATH` (or at `$OPENSSL_BIN`). When it is
//! missing they fail with a message saying so; they never skip silently.

#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use privacy::Error;
use privacy::keyfile::Pbes2Prf;
use privacy::keyring::Keyring;
use privacy::keys::{PrivateKey, PublicKey};
use privacy::pke::{CipherFormat, Sm2Cipher, encrypt, encrypt_with};
use privacy::sign::parse_signature;
use privacy::symmetric::{cbc_decrypt, cbc_encrypt, ctr_apply};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use tempfile::TempDir;

/// The user id every party in this project signs with (GM/T 0009).
const DIST_ID: &str = "distid:1234567812345678";

// ---------------------------------------------------------------------------
// Running openssl
// ---------------------------------------------------------------------------

fn openssl_bin() -> String {
    std::env::var("OPENSSL_BIN").unwrap_or_else(|_| "openssl".to_string())
}

/// Runs `openssl args…` and returns its output whatever the exit status.
/// Panics (failing the test) only when the binary cannot be started.
fn openssl_output<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let bin = openssl_bin();
    Command::new(&bin)
        .args(args)
        // Never let openssl wait for a passphrase on a terminal.
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{bin}` ({e}): these interoperability tests need the OpenSSL 3 \
                 command line on PATH (Debian: `apt-get install openssl`) or OPENSSL_BIN set"
            )
        })
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `openssl args…`, returns its stdout, and panics with its stderr if it
/// fails.
fn openssl<S: AsRef<OsStr>>(args: &[S]) -> Vec<u8> {
    let out = openssl_output(args);
    assert!(
        out.status.success(),
        "`openssl {}` failed ({}):\n{}",
        show_args(args),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `openssl args…` that is expected to fail; panics if it succeeds.
fn openssl_fails<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let out = openssl_output(args);
    assert!(
        !out.status.success(),
        "`openssl {}` unexpectedly succeeded; stdout:\n{}",
        show_args(args),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// A path as `&str` for an argument list (temp paths are UTF-8 here).
fn p(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("temporary path {} is not UTF-8", path.display()))
}

fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
}

/// `openssl genpkey -algorithm SM2`: returns (private key PEM, SPKI PEM) paths.
fn openssl_sm2_key(dir: &TempDir, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.path().join(format!("{name}.key.pem"));
    let public = dir.path().join(format!("{name}.pub.pem"));
    openssl(&["genpkey", "-algorithm", "SM2", "-out", p(&key)]);
    openssl(&["pkey", "-in", p(&key), "-pubout", "-out", p(&public)]);
    (key, public)
}

/// The public key `openssl pkey -pubout` prints for `key` (`passin` for an
/// encrypted key).
fn openssl_public_of(key: &Path, passin: Option<&str>) -> PublicKey {
    let mut args = vec!["pkey", "-in", p(key), "-pubout"];
    let pass_arg;
    if let Some(pass) = passin {
        pass_arg = format!("pass:{pass}");
        args.extend(["-passin", pass_arg.as_str()]);
    }
    let pem = String::from_utf8(openssl(&args)).unwrap();
    PublicKey::from_spki_pem(&pem)
        .unwrap_or_else(|e| panic!("openssl's SPKI for {} does not parse: {e}", key.display()))
}

/// A deterministic byte pattern of length `len`, different per `seed`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

// ---------------------------------------------------------------------------
// A tiny DER codec for SM2 signatures, independent of the library
// ---------------------------------------------------------------------------

/// DER content octets of a non-negative INTEGER given big-endian magnitude.
fn der_uint(mag: &[u8]) -> Vec<u8> {
    let start = mag.iter().position(|&b| b != 0).unwrap_or(mag.len() - 1);
    let digits = &mag[start..];
    let mut out = vec![0x02];
    let pad = digits[0] & 0x80 != 0;
    out.push((digits.len() + usize::from(pad)) as u8);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

/// `r ‖ s` (64 bytes) to DER `SEQUENCE { r INTEGER, s INTEGER }`.
fn rs_to_der(sig: &[u8; 64]) -> Vec<u8> {
    let mut body = der_uint(&sig[..32]);
    body.extend(der_uint(&sig[32..]));
    assert!(
        body.len() < 128,
        "an SM2 signature body fits a short length"
    );
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// DER `SEQUENCE { r, s }` to `r ‖ s`, strictly (minimal encodings only).
fn der_to_rs(der: &[u8]) -> [u8; 64] {
    fn int(bytes: &[u8]) -> (&[u8], &[u8]) {
        assert_eq!(bytes[0], 0x02, "INTEGER tag");
        let len = usize::from(bytes[1]);
        let content = &bytes[2..2 + len];
        assert!(
            !(content.len() > 1 && content[0] == 0 && content[1] & 0x80 == 0),
            "non-minimal INTEGER"
        );
        (content, &bytes[2 + len..])
    }
    assert_eq!(der[0], 0x30, "SEQUENCE tag");
    assert_eq!(usize::from(der[1]), der.len() - 2, "SEQUENCE length");
    let (r, rest) = int(&der[2..]);
    let (s, rest) = int(rest);
    assert!(rest.is_empty(), "trailing bytes in signature");
    let mut out = [0u8; 64];
    let (out_r, out_s) = out.split_at_mut(32);
    for (dst, src) in [(out_r, r), (out_s, s)] {
        let src = if src.len() == 33 { &src[1..] } else { src };
        dst[32 - src.len()..].copy_from_slice(src);
    }
    out
}

// ---------------------------------------------------------------------------
// 0. The tool itself
// ---------------------------------------------------------------------------

#[test]
fn openssl_3_with_sm2_is_available() {
    let version = String::from_utf8(openssl(&["version"])).unwrap();
    assert!(
        version.starts_with("OpenSSL 3."),
        "these tests target OpenSSL 3 (SM2 as its own key type, distid, sm4-ctr); `{}` says {version:?}",
        openssl_bin()
    );
    let ciphers = String::from_utf8(openssl(&["enc", "-list"])).unwrap();
    for c in ["-sm4-cbc", "-sm4-ctr"] {
        assert!(ciphers.contains(c), "openssl enc -list lacks {c}");
    }
}

// ---------------------------------------------------------------------------
// 1. Key files
// ---------------------------------------------------------------------------

#[test]
fn openssl_plain_key_loads_as_regulator_key() {
    let dir = TempDir::new().unwrap();
    let (key_path, pub_path) = openssl_sm2_key(&dir, "plain");

    let key = PrivateKey::from_pem_file(&key_path, None).unwrap();
    let openssl_pub = PublicKey::from_spki_pem(&read_text(&pub_path)).unwrap();
    assert_eq!(key.public_key(), &openssl_pub);
    assert_eq!(key.key_id(), openssl_pub.key_id());

    // The same through the keyring, which names the key by its id.
    let mut ring = Keyring::new();
    let id = ring.load_pem_file(&key_path, None).unwrap();
    assert_eq!(id, openssl_pub.key_id());
    assert!(ring.contains(&openssl_pub.key_id()));
    assert_eq!(ring.len(), 1);
    // Loading the same key twice is refused.
    assert!(ring.load_pem_file(&key_path, None).is_err());

    // Our SPKI export of openssl's key is what openssl prints, byte for byte.
    assert_eq!(
        key.public_key().to_spki_pem().unwrap().trim(),
        read_text(&pub_path).trim()
    );
    // And from_spki_pem of the export round-trips.
    assert_eq!(
        PublicKey::from_spki_pem(&key.public_key().to_spki_pem().unwrap()).unwrap(),
        openssl_pub
    );
}

/// The passphrase for the encrypted-key test is handed over in this variable.
/// Edition 2024 makes `std::env::set_var` unsafe and the workspace forbids
/// `unsafe`, so the test re-runs itself as a child process with the variable
/// set (see [`encrypted_openssl_keys_load_with_passphrase_from_env`]).
const PASS_VAR: &str = "LOOKTHROUGH_OPENSSL_INTEROP_TEST_PASSPHRASE_7F3A";
/// Holds a wrong passphrase in the child.
const WRONG_PASS_VAR: &str = "LOOKTHROUGH_OPENSSL_INTEROP_TEST_WRONG_PASSPHRASE_7F3A";
/// Never set.
const UNSET_VAR: &str = "LOOKTHROUGH_OPENSSL_INTEROP_TEST_UNSET_PASSPHRASE_7F3A";
/// Printed by the child when every check passed, so the parent knows the test
/// body really ran (a filter that matched nothing would also exit 0).
const CHILD_DONE: &str = "openssl-interop-child: encrypted key checks passed";
/// Contains non-ASCII characters: PBES2 passphrases are raw bytes on both sides.
const PASSPHRASE: &str = "interop-pässwörd-互通-1";

#[test]
fn encrypted_openssl_keys_load_with_passphrase_from_env() {
    const NAME: &str = "encrypted_openssl_keys_load_with_passphrase_from_env";
    if std::env::var_os(PASS_VAR).is_none() {
        // Parent: run this same test in a child with the variables set.
        let exe = std::env::current_exe().unwrap();
        let out = Command::new(&exe)
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(PASS_VAR, PASSPHRASE)
            .env(WRONG_PASS_VAR, "not-the-passphrase")
            .env_remove(UNSET_VAR)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot re-run {}: {e}", exe.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains(CHILD_DONE),
            "the child run of {NAME} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        return;
    }

    // Child: the passphrase is in PASS_VAR.
    let pass = std::env::var(PASS_VAR).unwrap();
    let passout = format!("pass:{pass}");
    let dir = TempDir::new().unwrap();

    // (a) genpkey's own encryption: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC
    //     (and AES-128-CBC for good measure).
    let mut files = Vec::new();
    for cipher in ["-aes-256-cbc", "-aes-128-cbc"] {
        let path = dir.path().join(format!("genpkey{cipher}.pem"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "SM2",
            cipher,
            "-pass",
            &passout,
            "-out",
            p(&path),
        ]);
        files.push(path);
    }
    // (b) pkcs8 -topk8 -v2 sm4-cbc: PBES2, PBKDF2-HMAC-SHA256, SM4-CBC.
    let (plain, _) = openssl_sm2_key(&dir, "to-pk8");
    let sm4_path = dir.path().join("pkcs8-sm4.pem");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "sm4-cbc",
        "-in",
        p(&plain),
        "-passout",
        &passout,
        "-out",
        p(&sm4_path),
    ]);
    let asn1 = String::from_utf8(openssl(&["asn1parse", "-in", p(&sm4_path)])).unwrap();
    assert!(
        asn1.contains(":sm4-cbc") && asn1.contains(":PBES2"),
        "pkcs8 -v2 sm4-cbc did not write PBES2 with SM4-CBC:\n{asn1}"
    );
    files.push(sm4_path);

    let mut ring = Keyring::new();
    for path in &files {
        let text = read_text(path);
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{} is not an encrypted PKCS#8 PEM:\n{text}",
            path.display()
        );
        let expected = openssl_public_of(path, Some(&pass));

        let key = PrivateKey::from_pem_file(path, Some(PASS_VAR))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(key.public_key(), &expected, "{}", path.display());

        let id = ring
            .load_pem_file(path, Some(PASS_VAR))
            .unwrap_or_else(|e| panic!("keyring {}: {e}", path.display()));
        assert_eq!(id, expected.key_id(), "{}", path.display());

        // Wrong passphrase: an error naming the file, not a panic.
        match PrivateKey::from_pem_file(path, Some(WRONG_PASS_VAR)) {
            Err(Error::KeyFile {
                path: named,
                reason,
            }) => {
                assert_eq!(&named, path);
                assert!(
                    reason.contains("wrong passphrase"),
                    "{}: unexpected reason {reason:?}",
                    path.display()
                );
            }
            other => panic!("{}: wrong passphrase gave {other:?}", path.display()),
        }
        assert!(ring.load_pem_file(path, Some(WRONG_PASS_VAR)).is_err());
        match PrivateKey::from_pkcs8_pem(&text, Some(b"not-the-passphrase")) {
            Err(Error::WrongPassphrase) => {}
            other => panic!("{}: wrong passphrase gave {other:?}", path.display()),
        }
        // A passphrase that is a prefix of the right one is wrong too.
        let prefix = &pass.as_bytes()[..pass.len() - 1];
        assert!(PrivateKey::from_pkcs8_pem(&text, Some(prefix)).is_err());
        // No variable / no passphrase: an error, not a panic.
        assert!(std::env::var_os(UNSET_VAR).is_none());
        assert!(matches!(
            PrivateKey::from_pem_file(path, Some(UNSET_VAR)),
            Err(Error::PassphraseMissing(v)) if v == UNSET_VAR
        ));
        assert!(PrivateKey::from_pem_file(path, None).is_err());
        assert!(PrivateKey::from_pkcs8_pem(&text, None).is_err());
    }
    assert_eq!(ring.len(), files.len());

    println!("{CHILD_DONE}");
}

#[test]
fn our_pkcs8_exports_are_readable_by_openssl() {
    let dir = TempDir::new().unwrap();
    let key = PrivateKey::generate().unwrap();
    let msg = b"a 32-byte data key, more or less";

    // Plain PKCS#8.
    let plain = write(&dir, "ours.pem", key.to_pkcs8_pem().unwrap().as_bytes());
    assert_eq!(&openssl_public_of(&plain, None), key.public_key());
    // The private scalar really is read: openssl decrypts with it.
    let wrap = write(
        &dir,
        "wrap.der",
        encrypt(key.public_key(), msg, CipherFormat::Der).unwrap(),
    );
    let got = openssl(&["pkeyutl", "-decrypt", "-inkey", p(&plain), "-in", p(&wrap)]);
    assert_eq!(got, msg);

    // PBES2 with PBKDF2-HMAC-SHA256 and SM4-CBC.
    let pass = "our-export-passphrase";
    let enc_pem = key
        .to_encrypted_pkcs8_pem(pass.as_bytes(), Pbes2Prf::HmacSha256)
        .unwrap();
    assert!(enc_pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let enc = write(&dir, "ours-enc.pem", enc_pem.as_bytes());
    assert_eq!(&openssl_public_of(&enc, Some(pass)), key.public_key());
    let passin = format!("pass:{pass}");
    let got = openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        p(&enc),
        "-passin",
        &passin,
        "-in",
        p(&wrap),
    ]);
    assert_eq!(got, msg);
    // openssl agrees on what the file holds: SM4-CBC under PBKDF2-HMAC-SHA256.
    let asn1 = String::from_utf8(openssl(&["asn1parse", "-in", p(&enc)])).unwrap();
    assert!(
        asn1.contains(":hmacWithSHA256") && asn1.contains(":sm4-cbc"),
        "unexpected structure:\n{asn1}"
    );
    // And the encryption is real: the wrong passphrase is refused by openssl.
    openssl_fails(&["pkey", "-in", p(&enc), "-passin", "pass:wrong", "-pubout"]);

    // openssl re-exports our encrypted key in plain PKCS#8; we read that back.
    let reexported =
        String::from_utf8(openssl(&["pkey", "-in", p(&enc), "-passin", &passin])).unwrap();
    let back = PrivateKey::from_pkcs8_pem(&reexported, None).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    assert_eq!(*back.to_scalar_bytes(), *key.to_scalar_bytes());
}

// ---------------------------------------------------------------------------
// 2. SM2 encryption (GM/T 0009 DER)
// ---------------------------------------------------------------------------

/// Whether a DER INTEGER for this 32-byte coordinate is short (leading zero
/// byte dropped) or padded (high bit set, so a `00` sign byte is added).
fn edge_cases(c: &Sm2Cipher) -> (bool, bool) {
    let short = c.x[0] == 0 || c.y[0] == 0;
    let padded = c.x[0] & 0x80 != 0 || c.y[0] & 0x80 != 0;
    (short, padded)
}

#[test]
fn openssl_wraps_decrypt_with_our_key() {
    let dir = TempDir::new().unwrap();
    let (key_path, pub_path) = openssl_sm2_key(&dir, "recipient");
    let key = PrivateKey::from_pem_file(&key_path, None).unwrap();

    // Also to a key of ours, exported with to_spki_pem for openssl to encrypt to.
    let ours = PrivateKey::generate().unwrap();
    let ours_pub = write(
        &dir,
        "ours.pub.pem",
        ours.public_key().to_spki_pem().unwrap(),
    );

    // At least 20 wraps each, and keep going until openssl has written a short
    // coordinate (probability ~1/128 per wrap) and a padded one (~3/4).
    const MIN: usize = 20;
    const MAX: usize = 3000;
    let (mut seen_short, mut seen_padded) = (false, false);
    let mut i = 0;
    while i < MIN || !(seen_short && seen_padded) {
        assert!(
            i < MAX,
            "{MAX} openssl wraps without both a short and a padded coordinate \
             (short: {seen_short}, padded: {seen_padded})"
        );
        let msg = pattern(1 + (i * 7) % 64, i as u8);
        let msg_path = write(&dir, "msg", &msg);
        let wrap_path = dir.path().join("wrap.der");
        let (recipient, recipient_pub) = if i % 2 == 0 {
            (&key, &pub_path)
        } else {
            (&ours, &ours_pub)
        };
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            p(recipient_pub),
            "-in",
            p(&msg_path),
            "-out",
            p(&wrap_path),
        ]);
        let wrap = read(&wrap_path);

        let plain = recipient
            .decrypt(&wrap, CipherFormat::Der)
            .unwrap_or_else(|e| panic!("wrap {i} ({}): {e}", hex::encode(&wrap)));
        assert_eq!(plain.as_slice(), msg.as_slice(), "wrap {i}");

        // Our parser and encoder reproduce openssl's DER byte for byte.
        let parsed = Sm2Cipher::parse(&wrap, CipherFormat::Der).unwrap();
        assert_eq!(
            parsed.encode(CipherFormat::Der),
            wrap,
            "re-encoding openssl wrap {i} changed it"
        );
        assert_eq!(parsed.c2.len(), msg.len());
        // The other key cannot open it.
        let other = if i % 2 == 0 { &ours } else { &key };
        assert!(other.decrypt(&wrap, CipherFormat::Der).is_err());

        let (short, padded) = edge_cases(&parsed);
        seen_short |= short;
        seen_padded |= padded;
        i += 1;
    }
}

/// Finds wraps from a seeded RNG whose C1 coordinates hit each DER edge case.
fn edge_case_wraps(recipient: &PublicKey, msg: &[u8]) -> Vec<(String, Vec<u8>)> {
    type Pred = fn(&Sm2Cipher) -> bool;
    let wanted: [(&str, Pred); 5] = [
        ("x has a leading zero byte", |c| c.x[0] == 0),
        ("y has a leading zero byte", |c| c.y[0] == 0),
        ("x has the high bit set", |c| c.x[0] & 0x80 != 0),
        ("y has the high bit set", |c| c.y[0] & 0x80 != 0),
        ("x and y both below 2^255, no zero byte", |c| {
            c.x[0] != 0 && c.x[0] & 0x80 == 0 && c.y[0] != 0 && c.y[0] & 0x80 == 0
        }),
    ];
    let mut rng = ChaCha20Rng::from_seed([0x5a; 32]);
    let mut found: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    for _ in 0..20_000 {
        if found.iter().all(Option::is_some) {
            break;
        }
        let wrap = encrypt_with(recipient, &mut rng, msg, CipherFormat::Der).unwrap();
        let c = Sm2Cipher::parse(&wrap, CipherFormat::Der).unwrap();
        for (slot, (_, pred)) in found.iter_mut().zip(wanted.iter()) {
            if slot.is_none() && pred(&c) {
                *slot = Some(wrap.clone());
            }
        }
    }
    wanted
        .iter()
        .zip(found)
        .map(|((name, _), w)| {
            (
                name.to_string(),
                w.unwrap_or_else(|| panic!("no seeded wrap where {name}")),
            )
        })
        .collect()
}

#[test]
fn our_wraps_decrypt_with_openssl() {
    let dir = TempDir::new().unwrap();
    let (openssl_key, openssl_pub_path) = openssl_sm2_key(&dir, "theirs");
    let openssl_pub = PublicKey::from_spki_pem(&read_text(&openssl_pub_path)).unwrap();

    // A key we generate, handed to openssl as plain PKCS#8.
    let ours = PrivateKey::generate().unwrap();
    let ours_key = write(
        &dir,
        "ours.key.pem",
        ours.to_pkcs8_pem().unwrap().as_bytes(),
    );

    let recipients = [
        ("openssl key", &openssl_pub, &openssl_key),
        ("our key", ours.public_key(), &ours_key),
    ];
    for (who, public, private_path) in recipients {
        let mut cases: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
        // 20 wraps from the OS RNG, message lengths 1..=64.
        for i in 0..20usize {
            let msg = pattern(1 + (i * 13) % 64, 100 + i as u8);
            let wrap = encrypt(public, &msg, CipherFormat::Der).unwrap();
            cases.push((format!("random wrap {i}"), msg, wrap));
        }
        // Seeded wraps that certainly hit every DER integer edge case.
        let msg = pattern(32, 7);
        for (name, wrap) in edge_case_wraps(public, &msg) {
            cases.push((format!("seeded wrap where {name}"), msg.clone(), wrap));
        }
        // A one-byte and a long message.
        for len in [1usize, 1000] {
            let msg = pattern(len, 3);
            let wrap = encrypt(public, &msg, CipherFormat::Der).unwrap();
            cases.push((format!("{len}-byte message"), msg, wrap));
        }

        for (name, msg, wrap) in &cases {
            let wrap_path = write(&dir, "wrap.der", wrap);
            let got = openssl(&[
                "pkeyutl",
                "-decrypt",
                "-inkey",
                p(private_path),
                "-in",
                p(&wrap_path),
            ]);
            assert_eq!(
                &got,
                msg,
                "{who}, {name}: openssl decrypted something else from {}",
                hex::encode(wrap)
            );
        }

        // Sanity: openssl does notice a corrupted wrap (so the checks above can fail).
        let mut bad = cases[0].2.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let bad_path = write(&dir, "bad.der", &bad);
        openssl_fails(&[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            p(private_path),
            "-in",
            p(&bad_path),
        ]);
    }
}

// ---------------------------------------------------------------------------
// 3. SM2 signatures
// ---------------------------------------------------------------------------

/// Verifies `der_sig` over `msg` in openssl with both `dgst` and `pkeyutl`;
/// returns whether each accepted it.
fn openssl_verifies(dir: &TempDir, public: &Path, msg: &[u8], der_sig: &[u8]) -> (bool, bool) {
    let msg_path = write(dir, "signed-msg", msg);
    let sig_path = write(dir, "sig.der", der_sig);
    let dgst = openssl_output(&[
        "dgst",
        "-sm3",
        "-verify",
        p(public),
        "-sigopt",
        DIST_ID,
        "-signature",
        p(&sig_path),
        p(&msg_path),
    ]);
    let pkeyutl = openssl_output(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        p(public),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        DIST_ID,
        "-in",
        p(&msg_path),
        "-sigfile",
        p(&sig_path),
    ]);
    let dgst_ok =
        dgst.status.success() && String::from_utf8_lossy(&dgst.stdout).contains("Verified OK");
    let pkeyutl_ok = pkeyutl.status.success()
        && String::from_utf8_lossy(&pkeyutl.stdout).contains("Signature Verified Successfully");
    (dgst_ok, pkeyutl_ok)
}

#[test]
fn our_signatures_verify_in_openssl() {
    let dir = TempDir::new().unwrap();
    let (openssl_key, openssl_pub) = openssl_sm2_key(&dir, "signer");
    let theirs = PrivateKey::from_pem_file(&openssl_key, None).unwrap();
    let ours = PrivateKey::generate().unwrap();
    let ours_pub = write(
        &dir,
        "ours.pub.pem",
        ours.public_key().to_spki_pem().unwrap(),
    );

    for (who, key, public) in [
        ("openssl-generated key", &theirs, &openssl_pub),
        ("our key", &ours, &ours_pub),
    ] {
        // Messages: 20 ordinary ones, plus (signing is deterministic, so the
        // search is cheap) ones whose r or s has a leading zero byte or the
        // high bit set, the DER INTEGER edge cases.
        let mut msgs: Vec<(String, Vec<u8>)> = (0..20usize)
            .map(|i| (format!("message {i}"), pattern(i * 11, i as u8)))
            .collect();
        type Pred = fn(&[u8; 64]) -> bool;
        let wanted: [(&str, Pred); 4] = [
            ("r has a leading zero byte", |s| s[0] == 0),
            ("s has a leading zero byte", |s| s[32] == 0),
            ("r and s have the high bit set", |s| {
                s[0] & 0x80 != 0 && s[32] & 0x80 != 0
            }),
            ("r and s below 2^255", |s| {
                s[0] & 0x80 == 0 && s[32] & 0x80 == 0
            }),
        ];
        for (name, pred) in wanted {
            let n = (0u32..20_000)
                .find(|n| pred(&key.sign(&n.to_be_bytes()).unwrap()))
                .unwrap_or_else(|| panic!("no message found where {name}"));
            msgs.push((name.to_string(), n.to_be_bytes().to_vec()));
        }

        for (name, msg) in &msgs {
            let rs = key.sign(msg).unwrap();
            assert_eq!(rs, key.sign(msg).unwrap(), "signing is deterministic");
            let der = rs_to_der(&rs);
            // The library's own DER conversion agrees with ours.
            assert_eq!(
                parse_signature(&rs).unwrap().to_der().as_bytes(),
                der.as_slice(),
                "{who}, {name}"
            );
            assert_eq!(der_to_rs(&der), rs);
            // We verify both forms ourselves.
            key.public_key().verify(msg, &rs).unwrap();
            key.public_key().verify(msg, &der).unwrap();

            let (dgst_ok, pkeyutl_ok) = openssl_verifies(&dir, public, msg, &der);
            assert!(
                dgst_ok && pkeyutl_ok,
                "{who}, {name}: openssl rejects our signature {} (dgst: {dgst_ok}, pkeyutl: {pkeyutl_ok})",
                hex::encode(rs)
            );
        }

        // The check can fail: a different message or id is rejected by openssl.
        let rs = key.sign(b"signed message").unwrap();
        let der = rs_to_der(&rs);
        assert_eq!(
            openssl_verifies(&dir, public, b"signed messagf", &der),
            (false, false),
            "{who}: openssl accepted a signature over another message"
        );
        let rs_other_id = key
            .sign_with_id("another user id", b"signed message")
            .unwrap();
        assert_eq!(
            openssl_verifies(&dir, public, b"signed message", &rs_to_der(&rs_other_id)),
            (false, false),
            "{who}: openssl accepted a signature made with another user id"
        );
    }
}

#[test]
fn openssl_signatures_verify_with_us() {
    let dir = TempDir::new().unwrap();
    let (key_path, pub_path) = openssl_sm2_key(&dir, "signer");
    let public = PublicKey::from_spki_pem(&read_text(&pub_path)).unwrap();

    let (mut seen_short, mut seen_padded) = (false, false);
    const MIN: usize = 20;
    const MAX: usize = 3000;
    let mut i = 0;
    // At least 20 signatures; go on until r or s was short (a leading zero
    // byte, ~1/128 per signature) and one had the high bit set.
    while i < MIN || !(seen_short && seen_padded) {
        assert!(
            i < MAX,
            "{MAX} openssl signatures without both a short and a padded integer"
        );
        let msg = pattern(i * 5, i as u8);
        let msg_path = write(&dir, "msg", &msg);
        let sig_path = dir.path().join("sig.der");
        openssl(&[
            "dgst",
            "-sm3",
            "-sign",
            p(&key_path),
            "-sigopt",
            DIST_ID,
            "-out",
            p(&sig_path),
            p(&msg_path),
        ]);
        let der = read(&sig_path);
        let rs = der_to_rs(&der);

        public
            .verify(&msg, &der)
            .unwrap_or_else(|e| panic!("openssl signature {i} (DER {}): {e}", hex::encode(&der)));
        public
            .verify(&msg, &rs)
            .unwrap_or_else(|e| panic!("openssl signature {i} (r||s {}): {e}", hex::encode(rs)));
        assert_eq!(parse_signature(&der).unwrap().to_bytes().as_slice(), rs);

        // Tampering is noticed.
        let mut other = msg.clone();
        other.push(0);
        assert!(matches!(
            public.verify(&other, &der),
            Err(Error::BadSignature)
        ));

        seen_short |= rs[0] == 0 || rs[32] == 0;
        seen_padded |= rs[0] & 0x80 != 0 || rs[32] & 0x80 != 0;
        i += 1;
    }
}

/// OpenSSL 3 signs SM2 with an *empty* user id unless told `distid:…`; such a
/// signature does not verify under the id FISCO BCOS and this crate use.
#[test]
fn openssl_signature_without_distid_does_not_verify_with_default_id() {
    let dir = TempDir::new().unwrap();
    let (key_path, pub_path) = openssl_sm2_key(&dir, "signer");
    let public = PublicKey::from_spki_pem(&read_text(&pub_path)).unwrap();
    let msg = b"signed without -sigopt distid";
    let msg_path = write(&dir, "msg", msg);
    let sig_path = dir.path().join("sig.der");
    openssl(&[
        "dgst",
        "-sm3",
        "-sign",
        p(&key_path),
        "-out",
        p(&sig_path),
        p(&msg_path),
    ]);
    let der = read(&sig_path);

    match public.verify(msg, &der) {
        Err(Error::BadSignature) => {}
        other => panic!("a signature without distid verified with the default id: {other:?}"),
    }
    // What openssl used instead is the empty id.
    public
        .verify_with_id("", msg, &der)
        .expect("openssl's no-distid signature verifies with the empty user id");
    // And openssl itself rejects it when told the default id.
    assert_eq!(
        openssl_verifies(&dir, &pub_path, msg, &der),
        (false, false),
        "openssl accepted its no-distid signature under distid 1234567812345678"
    );
}

// ---------------------------------------------------------------------------
// 4. SM4-CBC and SM4-CTR against `openssl enc`
// ---------------------------------------------------------------------------

/// `openssl enc -<cipher> -K key -iv iv [-d]` on `input`.
fn openssl_enc(
    dir: &TempDir,
    cipher: &str,
    key: &[u8],
    iv: &[u8],
    input: &[u8],
    decrypt: bool,
) -> Vec<u8> {
    let in_path = write(dir, "enc-in", input);
    let out_path = dir.path().join("enc-out");
    let (key_hex, iv_hex) = (hex::encode(key), hex::encode(iv));
    let mut args = vec![
        "enc",
        cipher,
        "-K",
        &key_hex,
        "-iv",
        &iv_hex,
        "-in",
        p(&in_path),
        "-out",
        p(&out_path),
    ];
    if decrypt {
        args.push("-d");
    }
    openssl(&args);
    read(&out_path)
}

#[test]
fn sm4_cbc_matches_openssl_enc() {
    let dir = TempDir::new().unwrap();
    let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
    let iv = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
    for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 1000] {
        let pt = pattern(len, len as u8);
        let ours = cbc_encrypt(&key, &iv, &pt).unwrap();
        let theirs = openssl_enc(&dir, "-sm4-cbc", &key, &iv, &pt, false);
        assert_eq!(
            hex::encode(&ours),
            hex::encode(&theirs),
            "SM4-CBC of {len} bytes differs from openssl enc -sm4-cbc"
        );
        assert_eq!(ours.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
        // openssl's ciphertext decrypts with us, ours with openssl.
        assert_eq!(cbc_decrypt(&key, &iv, &theirs).unwrap(), pt, "{len} bytes");
        assert_eq!(
            openssl_enc(&dir, "-sm4-cbc", &key, &iv, &ours, true),
            pt,
            "{len} bytes"
        );
    }
    // Another key and IV, to be sure neither is ignored.
    let key2 = pattern(16, 0xa5);
    let iv2 = pattern(16, 0x3c);
    let pt = pattern(100, 9);
    let theirs = openssl_enc(&dir, "-sm4-cbc", &key2, &iv2, &pt, false);
    assert_eq!(cbc_encrypt(&key2, &iv2, &pt).unwrap(), theirs);
    assert_ne!(cbc_encrypt(&key, &iv2, &pt).unwrap(), theirs);
    assert_ne!(cbc_encrypt(&key2, &iv, &pt).unwrap(), theirs);
    assert!(
        cbc_decrypt(&key, &iv2, &theirs)
            .map(|d| d != pt)
            .unwrap_or(true)
    );
}

#[test]
fn sm4_ctr_matches_openssl_enc() {
    let dir = TempDir::new().unwrap();
    let key = hex::decode("0123456789abcdeffedcba9876543210").unwrap();
    let ivs = [
        "000102030405060708090a0b0c0d0e0f".to_string(),
        // Carry out of the low 64 bits of the counter.
        "0000000000000000fffffffffffffffe".to_string(),
        // The whole 128-bit counter wraps around.
        "fffffffffffffffffffffffffffffffe".to_string(),
    ];
    for iv_hex in &ivs {
        let iv = hex::decode(iv_hex).unwrap();
        for len in [1usize, 15, 16, 17, 64, 1000] {
            let pt = pattern(len, len as u8 ^ 0x55);
            let ours = ctr_apply(&key, &iv, &pt).unwrap();
            let theirs = openssl_enc(&dir, "-sm4-ctr", &key, &iv, &pt, false);
            assert_eq!(
                hex::encode(&ours),
                hex::encode(&theirs),
                "SM4-CTR of {len} bytes with IV {iv_hex} differs from openssl enc -sm4-ctr"
            );
            assert_eq!(ours.len(), len, "CTR does not pad");
            assert_eq!(ctr_apply(&key, &iv, &theirs).unwrap(), pt);
        }
    }
    // Empty input is empty output on both sides.
    let iv = hex::decode(&ivs[0]).unwrap();
    assert!(ctr_apply(&key, &iv, &[]).unwrap().is_empty());
    assert!(openssl_enc(&dir, "-sm4-ctr", &key, &iv, &[], false).is_empty());
}

/// Our national-standard encrypted key (PBKDF2-HMAC-SM3, SM4-CBC), which
/// `openssl pkey` cannot read whole, taken apart and decrypted with OpenSSL's
/// own primitives: `openssl kdf PBKDF2` with SM3 and `openssl enc -sm4-cbc`.
/// The result must be the same private key as a plain PKCS#8 file.
#[test]
fn our_hmac_sm3_encrypted_key_decrypts_with_openssl_primitives() {
    let dir = TempDir::new().unwrap();
    let key = PrivateKey::generate().unwrap();
    let pem = key
        .to_encrypted_pkcs8_pem(b"gm passphrase", privacy::keyfile::Pbes2Prf::HmacSm3)
        .unwrap();
    let enc_path = write(&dir, "gm.pem", pem.as_bytes());
    let listing = String::from_utf8(openssl(&["asn1parse", "-in", p(&enc_path)])).unwrap();
    assert!(
        listing.contains("1.2.156.10197.1.401.2"),
        "PRF is hmacWithSM3:\n{listing}"
    );
    assert!(listing.contains("sm4-cbc"), "cipher is SM4-CBC:\n{listing}");
    // Pull salt, iterations, IV and the encrypted data out of the listing.
    let hex_dumps: Vec<(usize, String)> = listing
        .lines()
        .filter_map(|l| {
            let offset = l.split(':').next()?.trim().parse().ok()?;
            Some((offset, l.split("[HEX DUMP]:").nth(1)?.trim().to_string()))
        })
        .collect();
    assert_eq!(hex_dumps.len(), 3, "salt, IV, data:\n{listing}");
    let iterations = listing
        .lines()
        .find(|l| l.contains("INTEGER"))
        .and_then(|l| l.rsplit(':').next())
        .map(|h| u32::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    let (salt, iv, data_offset) = (&hex_dumps[0].1, &hex_dumps[1].1, hex_dumps[2].0);
    let derived = openssl(&[
        "kdf",
        "-keylen",
        "16",
        "-kdfopt",
        "digest:SM3",
        "-kdfopt",
        "pass:gm passphrase",
        "-kdfopt",
        &format!("hexsalt:{salt}"),
        "-kdfopt",
        &format!("iter:{iterations}"),
        "PBKDF2",
    ]);
    let derived: String = String::from_utf8(derived).unwrap().trim().replace(':', "");
    let data = dir.path().join("data.bin");
    openssl(&[
        "asn1parse",
        "-in",
        p(&enc_path),
        "-strparse",
        &data_offset.to_string(),
        "-noout",
        "-out",
        p(&data),
    ]);
    let der = dir.path().join("key.der");
    openssl(&[
        "enc",
        "-d",
        "-sm4-cbc",
        "-K",
        &derived,
        "-iv",
        iv,
        "-in",
        p(&data),
        "-out",
        p(&der),
    ]);
    let plain_pem = openssl(&["pkey", "-inform", "DER", "-in", p(&der)]);
    let back = PrivateKey::from_pkcs8_pem(std::str::from_utf8(&plain_pem).unwrap(), None).unwrap();
    assert_eq!(back.key_id(), key.key_id());
    assert_eq!(*back.to_scalar_bytes(), *key.to_scalar_bytes());
}
