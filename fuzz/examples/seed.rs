//! Writes the seed corpora of the fuzz targets to `seeds/<target>/`.
//!
//! ```text
//! cd fuzz && cargo run --example seed            # writes ./seeds
//! cargo run --example seed -- /some/other/dir    # or there
//! ```
//!
//! Deterministic: the same files every time (fixed keys, seeded RNG). The
//! envelopes are sealed to the fuzz targets' own keys in their own context,
//! so the fuzzer starts from inputs that reach the deep paths (SM2 unwrap,
//! key commitment, SM4-GCM) instead of having to find them.

use std::fs;
use std::path::{Path, PathBuf};

use lookthrough_fuzz::{
    PASSPHRASE, SCALAR_1, SCALAR_2, SCALAR_OUTSIDER, apply_mutations, bases, context, key, rng,
};
use privacy::envelope::{Envelope, SealingSession, TxContext};
use privacy::keys::{KeyId, PrivateKey, PublicKey};
use privacy::pke::{CipherFormat, encrypt_with};

// ---------------------------------------------------------------- a tiny DER

/// A DER element: tag byte and either raw content or children.
#[derive(Clone, Debug)]
enum Der {
    Prim(u8, Vec<u8>),
    Cons(u8, Vec<Der>),
}

fn len_bytes(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        let b = n.to_be_bytes();
        let skip = b.iter().position(|&x| x != 0).unwrap_or(b.len() - 1);
        let mut out = vec![0x80 | (b.len() - skip) as u8];
        out.extend_from_slice(&b[skip..]);
        out
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(len_bytes(content.len()));
    out.extend_from_slice(content);
    out
}

impl Der {
    fn encode(&self) -> Vec<u8> {
        match self {
            Der::Prim(t, c) => tlv(*t, c),
            Der::Cons(t, kids) => tlv(*t, &kids.iter().flat_map(Der::encode).collect::<Vec<_>>()),
        }
    }

    /// Parses one element (constructed tags recursively; single-byte tags
    /// and definite lengths only, which is all the envelope uses).
    fn parse(bytes: &[u8]) -> (Der, &[u8]) {
        let tag = bytes[0];
        let (len, hdr) = if bytes[1] < 0x80 {
            (usize::from(bytes[1]), 2)
        } else {
            let n = usize::from(bytes[1] & 0x7f);
            let len = bytes[2..2 + n]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (len, 2 + n)
        };
        let content = &bytes[hdr..hdr + len];
        let rest = &bytes[hdr + len..];
        if tag & 0x20 != 0 {
            let mut kids = Vec::new();
            let mut c = content;
            while !c.is_empty() {
                let (k, r) = Der::parse(c);
                kids.push(k);
                c = r;
            }
            (Der::Cons(tag, kids), rest)
        } else {
            (Der::Prim(tag, content.to_vec()), rest)
        }
    }

    fn kids(&mut self) -> &mut Vec<Der> {
        match self {
            Der::Cons(_, k) => k,
            Der::Prim(..) => panic!("not constructed"),
        }
    }
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for &a in &arcs[2..] {
        push(a);
    }
    tlv(0x06, &body)
}

fn int(v: u32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap_or(3);
    let mut c = b[skip..].to_vec();
    if c[0] & 0x80 != 0 {
        c.insert(0, 0);
    }
    tlv(0x02, &c)
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

// ------------------------------------------------------------------ output

struct Out {
    dir: PathBuf,
    total: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let d = self.dir.join(target);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join(name), bytes).expect("write seed");
        self.total += bytes.len();
    }
}

// --------------------------------------------------------------- envelopes

fn seal(label: &str, to: &[&PrivateKey], ctx: &TxContext, payload: &[u8]) -> Vec<u8> {
    let pks: Vec<PublicKey> = to.iter().map(|k| k.public_key().clone()).collect();
    let mut r = rng(label);
    let mut s = SealingSession::new_with(&mut r, &pks).expect("session");
    s.seal_with(&mut r, ctx, payload).expect("seal")
}

fn replace_wrap(env: &[u8], rid: KeyId, wrap: &[u8]) -> Vec<u8> {
    let mut e = Envelope::parse(env).expect("parse");
    for r in e.recipients.iter_mut() {
        if r.rid == rid {
            r.wrap = wrap;
        }
    }
    e.encode().expect("encode")
}

/// Path into the envelope tree: ContentInfo → [0] → EnvelopedData.
fn enveloped_data(root: &mut Der) -> &mut Der {
    &mut root.kids()[1].kids()[0]
}

fn envelope_seeds(out: &mut Out) {
    let t = "envelope_open";
    let (k1, k2, ko) = (key(&SCALAR_1), key(&SCALAR_2), key(&SCALAR_OUTSIDER));
    let ctx = context();
    let payload: &[u8] = b"{\"transfer\":{\"to\":\"0x01\",\"amount\":5}}";

    let both = seal("open-both", &[&k1, &k2], &ctx, payload);
    out.put(t, "opened-both-keys", &both);
    out.put(t, "opened-key1", &seal("open-k1", &[&k1], &ctx, b"payload"));
    out.put(
        t,
        "opened-key2-outsider",
        &seal("open-k2o", &[&ko, &k2], &ctx, payload),
    );
    out.put(t, "opened-empty", &seal("open-empty", &[&k1], &ctx, b""));
    out.put(t, "opened-16-recipients", &{
        let extra: Vec<PrivateKey> = (1u8..=14).map(|i| key(&[0x40 + i; 32])).collect();
        let mut to: Vec<&PrivateKey> = extra.iter().collect();
        to.push(&k1);
        to.push(&k2);
        seal("open-16", &to, &ctx, b"sixteen")
    });
    out.put(t, "not-for-us", &seal("nfu", &[&ko], &ctx, payload));
    let other = TxContext::new("chain0", "group1", [0x11; 20]).expect("ctx");
    out.put(t, "wrong-context", &seal("wctx", &[&k1], &other, payload));

    // Sealed to key 1 and the outsider, then key 1's wrap replaced. (The AAD
    // covers every RecipientInfo, so this also breaks the outsider's view.)
    let k1o = seal("open-k1o", &[&k1, &ko], &ctx, payload);
    // A wrap of another data key under key 1's rid: inconsistent.
    let forged = encrypt_with(
        k1.public_key(),
        &mut rng("forged"),
        &[7u8; 16],
        CipherFormat::Der,
    )
    .expect("wrap");
    out.put(t, "inconsistent", &replace_wrap(&k1o, k1.key_id(), &forged));
    // A wrap made for the outsider under key 1's rid: wrong key.
    let foreign = encrypt_with(
        ko.public_key(),
        &mut rng("foreign"),
        &[7u8; 16],
        CipherFormat::Der,
    )
    .expect("wrap");
    out.put(t, "wrong-key", &replace_wrap(&k1o, k1.key_id(), &foreign));
    // A wrap of a 15-byte "data key": malformed (bad length).
    let short = encrypt_with(
        k1.public_key(),
        &mut rng("short"),
        &[7u8; 15],
        CipherFormat::Der,
    )
    .expect("wrap");
    out.put(
        t,
        "bad-data-key-length",
        &replace_wrap(&k1o, k1.key_id(), &short),
    );

    // GmSSL's sm2encrypt OID, sealed properly (the OID is in the AAD).
    {
        let dk = privacy::envelope::DataKey::new([0x3c; 16]);
        let pks = [k1.public_key().clone(), k2.public_key().clone()];
        let mut r = rng("gmssl");
        let mut s = SealingSession::with_data_key(&mut r, dk.clone(), &pks).expect("session");
        let sealed = s.seal_with(&mut r, &ctx, payload).expect("seal");
        let mut e = Envelope::parse(&sealed).expect("parse");
        for rec in e.recipients.iter_mut() {
            rec.algorithm = privacy::envelope::OID_SM2_ENCRYPT_GMSSL;
        }
        let ct = privacy::symmetric::gcm_seal(&*dk, &e.nonce, &e.aad(&ctx), payload).expect("gcm");
        e.ciphertext = &ct;
        out.put(t, "opened-gmssl-oid", &e.encode().expect("encode"));
    }

    // Variants the reader accepts (or rejects) that the writer never produces.
    let (tree, _) = Der::parse(&both);
    {
        // An unknown attribute before EnvelopeParams in unprotectedAttrs [1]:
        // ignored, so it still opens.
        let mut tree = tree.clone();
        let unknown = seq(&[oid(&[1, 2, 3, 4]), tlv(0x31, &tlv(0x04, b"ignored"))]);
        enveloped_data(&mut tree).kids()[3]
            .kids()
            .insert(0, Der::parse(&unknown).0);
        out.put(t, "opened-extra-attribute", &tree.encode());
    }
    {
        // NULL algorithm parameters: malformed since the AAD covers the
        // RecipientInfo as re-encoded.
        let mut tree = tree.clone();
        for ri in enveloped_data(&mut tree).kids()[1].kids().iter_mut() {
            ri.kids()[2].kids().push(Der::Prim(0x05, vec![]));
        }
        out.put(t, "null-params", &tree.encode());
    }

    let e = Envelope::parse(&both).expect("parse");
    let mut ct = e.ciphertext.to_vec();
    let n = ct.len();
    ct[n - 1] ^= 1;
    let mut e2 = e.clone();
    e2.ciphertext = &ct;
    out.put(t, "tag-flipped", &e2.encode().expect("encode"));
    out.put(t, "truncated", &both[..both.len() - 7]);
    out.put(t, "not-envelope-json", payload);
    out.put(
        t,
        "not-envelope-abi",
        &[
            0xa9, 0x05, 0x9c, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x5b, 0x38, 0xda, 0x6a,
            0x70, 0x1c, 0x56, 0x85, 0x45, 0xdc, 0xfc, 0xb0, 0x3f, 0xcb, 0x87, 0x5f, 0x56, 0xbe,
            0xdd, 0xc4,
        ],
    );

    // envelope_mutate: one identity program per base, plus a few edits.
    let t = "envelope_mutate";
    let n = bases().len() as u8;
    for i in 0..n {
        out.put(t, &format!("base{i}-unchanged"), &[i]);
    }
    out.put(t, "base0-flip-first", &[0, 0, 0, 0, 0x01]);
    out.put(t, "base0-truncate-100", &[0, 4, 100, 0, 0]);
    out.put(t, "base1-insert-delete", &[1, 2, 50, 0, 0x00, 3, 50, 0, 0]);
    out.put(t, "base3-set-rid", &[3, 1, 40, 0, 0xff, 0, 41, 0, 0x80]);
    // An unknown attribute added to base 0: it still opens (attributes other
    // than EnvelopeParams are ignored), and mutating inside it keeps it
    // opening, which exercises the "opens => re-encodes to the original"
    // check of the target.
    let base0 = &bases()[0];
    let (mut tree, _) = Der::parse(&base0.envelope);
    let unknown = seq(&[
        oid(&[1, 2, 3, 4]),
        tlv(0x31, &tlv(0x04, b"ignored attribute")),
    ]);
    enveloped_data(&mut tree).kids()[3]
        .kids()
        .insert(0, Der::parse(&unknown).0);
    let with_attr = tree.encode();
    let mut program = vec![0u8];
    program.extend(edit_program(&base0.envelope, &with_attr).expect("one insertion"));
    let mut check = base0.envelope.clone();
    apply_mutations(&mut check, &program[1..]);
    assert_eq!(check, with_attr, "edit program");
    out.put(t, "base0-add-unknown-attribute", &program);
    // ... and then one byte of the ignored attribute changed: still opens.
    let at = with_attr
        .windows(7)
        .position(|w| w == b"ignored")
        .expect("attribute text");
    let off = u16::try_from(at).expect("offset").to_le_bytes();
    program.extend([0, off[0], off[1], 0x20]);
    out.put(t, "base0-add-and-edit-unknown-attribute", &program);

    // Sanity: the helper really is what the target runs.
    let mut check = bases()[0].envelope.clone();
    apply_mutations(&mut check, &[2, 0, 0, 9, 3, 0, 0, 0]);
    assert_eq!(check, bases()[0].envelope);
}

/// A mutation program (see `apply_mutations`) turning `from` into `to` when
/// `to` is `from` with some bytes changed in place before one contiguous
/// insertion (length fields rewritten, an element added).
fn edit_program(from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let n = to.len().checked_sub(from.len())?;
    for k in 0..=from.len() {
        if to[k + n..] != from[k..] {
            continue;
        }
        let mut prog = Vec::new();
        for i in 0..k {
            if from[i] != to[i] {
                let off = u16::try_from(i).ok()?.to_le_bytes();
                prog.extend([1, off[0], off[1], to[i]]);
            }
        }
        for (j, &b) in to[k..k + n].iter().enumerate() {
            let off = u16::try_from(k + j).ok()?.to_le_bytes();
            prog.extend([2, off[0], off[1], b]);
        }
        return Some(prog);
    }
    None
}

// ------------------------------------------------------------- SM2 cipher

fn sm2_seeds(out: &mut Out) {
    let t = "sm2_cipher_parse";
    let (k1, ko) = (key(&SCALAR_1), key(&SCALAR_OUTSIDER));
    for (i, msg) in [&b"x"[..], &[0x5a; 16], &[0xa5; 100]].iter().enumerate() {
        for (fmt, name) in [
            (CipherFormat::Der, "der"),
            (CipherFormat::C1C3C2, "c1c3c2"),
            (CipherFormat::C1C2C3, "c1c2c3"),
        ] {
            let ct = encrypt_with(
                k1.public_key(),
                &mut rng(&format!("sm2-{i}-{name}")),
                msg,
                fmt,
            )
            .expect("encrypt");
            out.put(t, &format!("{name}-len{}", msg.len()), &ct);
            if fmt != CipherFormat::Der {
                // Raw without the 04 prefix.
                out.put(t, &format!("{name}-len{}-noprefix", msg.len()), &ct[1..]);
            }
        }
    }
    // DER with sloppy integers: x with a redundant leading zero, y cut short.
    let ct = encrypt_with(
        k1.public_key(),
        &mut rng("sm2-sloppy"),
        b"sloppy",
        CipherFormat::Der,
    )
    .expect("encrypt");
    let (mut tree, _) = Der::parse(&ct);
    if let Der::Prim(_, x) = &mut tree.kids()[0] {
        x.insert(0, 0);
    }
    if let Der::Prim(_, y) = &mut tree.kids()[1] {
        while y.first() == Some(&0) {
            y.remove(0);
        }
    }
    out.put(t, "der-sloppy-integers", &tree.encode());
    let other = encrypt_with(
        ko.public_key(),
        &mut rng("sm2-other"),
        &[1; 16],
        CipherFormat::Der,
    )
    .expect("encrypt");
    out.put(t, "der-other-key", &other);
}

// ------------------------------------------------------------------ keys

const OID_PBES2: &[u64] = &[1, 2, 840, 113549, 1, 5, 13];
const OID_PBKDF2: &[u64] = &[1, 2, 840, 113549, 1, 5, 12];
const OID_HMAC_SM3: &[u64] = &[1, 2, 156, 10197, 1, 401, 2];
const OID_HMAC_SHA256: &[u64] = &[1, 2, 840, 113549, 2, 9];
const OID_SM4_CBC: &[u64] = &[1, 2, 156, 10197, 1, 104, 2];
const OID_AES128_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 2];
const OID_AES256_CBC: &[u64] = &[2, 16, 840, 1, 101, 3, 4, 1, 42];

#[derive(Clone, Copy)]
enum Prf {
    Sm3,
    Sha256,
}

#[derive(Clone, Copy)]
enum Cipher {
    Sm4,
    Aes128,
    Aes256,
}

/// PBES2 `EncryptedPrivateKeyInfo` DER with a chosen (small) iteration count.
fn encrypted_pkcs8(
    plain: &[u8],
    pass: &[u8],
    iterations: u32,
    prf: Prf,
    cipher: Cipher,
) -> Vec<u8> {
    use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
    let salt = [0x5a; 16];
    let iv = [0xa5; 16];
    let key_len = match cipher {
        Cipher::Aes256 => 32,
        _ => 16,
    };
    let mut key = vec![0u8; key_len];
    let prf_oid = match prf {
        Prf::Sm3 => {
            pbkdf2::pbkdf2_hmac::<sm3::Sm3>(pass, &salt, iterations, &mut key);
            OID_HMAC_SM3
        }
        Prf::Sha256 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pass, &salt, iterations, &mut key);
            OID_HMAC_SHA256
        }
    };
    let (scheme_oid, data) = match cipher {
        Cipher::Sm4 => (
            OID_SM4_CBC,
            privacy::symmetric::cbc_encrypt(&key, &iv, plain).expect("sm4-cbc"),
        ),
        Cipher::Aes128 => (
            OID_AES128_CBC,
            cbc::Encryptor::<aes::Aes128>::new_from_slices(&key, &iv)
                .expect("aes128")
                .encrypt_padded_vec::<Pkcs7>(plain),
        ),
        Cipher::Aes256 => (
            OID_AES256_CBC,
            cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv)
                .expect("aes256")
                .encrypt_padded_vec::<Pkcs7>(plain),
        ),
    };
    let kdf_params = seq(&[
        tlv(0x04, &salt),
        int(iterations),
        seq(&[oid(prf_oid), tlv(0x05, &[])]),
    ]);
    let pbes2 = seq(&[
        seq(&[oid(OID_PBKDF2), kdf_params]),
        seq(&[oid(scheme_oid), tlv(0x04, &iv)]),
    ]);
    seq(&[seq(&[oid(OID_PBES2), pbes2]), tlv(0x04, &data)])
}

fn pem(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &b)| a | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).expect("ascii"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn pem_body(pem: &str) -> Vec<u8> {
    // Decode our own (or the library's) base64 back, to get DER from PEM.
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(str::bytes)
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn key_seeds(out: &mut Out) {
    let t = "key_pem";
    let k1 = key(&SCALAR_1);
    let plain_pem = k1.to_pkcs8_pem().expect("pem");
    let plain_der = pem_body(&plain_pem);
    assert_eq!(
        PrivateKey::from_pkcs8_der(&plain_der)
            .expect("der")
            .key_id(),
        k1.key_id()
    );
    out.put(t, "pkcs8.pem", plain_pem.as_bytes());
    out.put(t, "pkcs8.der", &plain_der);
    let spki_pem = k1.public_key().to_spki_pem().expect("spki");
    out.put(t, "spki.pem", spki_pem.as_bytes());
    out.put(t, "spki.der", &pem_body(&spki_pem));
    out.put(t, "sec1-uncompressed", &k1.public_key().to_uncompressed());
    out.put(t, "sec1-xy", &k1.public_key().to_uncompressed()[1..]);
    out.put(t, "scalar", &SCALAR_1);
    out.put(
        t,
        "ec-private-key.pem",
        pem("EC PRIVATE KEY", &plain_der).as_bytes(),
    );

    // Encrypted with tiny iteration counts so each execution stays fast.
    for (prf, cipher, name, iters) in [
        (Prf::Sm3, Cipher::Sm4, "sm3-sm4", 3),
        (Prf::Sha256, Cipher::Sm4, "sha256-sm4", 2),
        (Prf::Sha256, Cipher::Aes128, "sha256-aes128", 1),
        (Prf::Sha256, Cipher::Aes256, "sha256-aes256", 4),
    ] {
        let der = encrypted_pkcs8(&plain_der, PASSPHRASE, iters, prf, cipher);
        let k = PrivateKey::from_encrypted_pkcs8_der(&der, PASSPHRASE)
            .unwrap_or_else(|e| panic!("{name}: own encrypted seed does not open: {e}"));
        assert_eq!(k.key_id(), k1.key_id());
        out.put(t, &format!("encrypted-{name}.der"), &der);
        out.put(
            t,
            &format!("encrypted-{name}.pem"),
            pem("ENCRYPTED PRIVATE KEY", &der).as_bytes(),
        );
    }
    let wrong = encrypted_pkcs8(&plain_der, b"not the passphrase", 2, Prf::Sm3, Cipher::Sm4);
    out.put(t, "encrypted-wrong-passphrase.der", &wrong);
}

// ---------------------------------------------------------- block messages

/// Messages of the real blocks among the `chain_json` seeds (written first,
/// from the FISCO BCOS fixtures), compressed and as their JSON.
fn stream_seeds(out: &mut Out) {
    let t = "stream_message";
    let fixtures = out.dir.join("chain_json");
    let mut names: Vec<_> = fs::read_dir(&fixtures)
        .expect("the chain_json seeds")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("getBlockByNumber"))
        .collect();
    names.sort();
    let mut written = 0;
    for path in names {
        let text = fs::read_to_string(&path).expect("read fixture");
        let Ok(chain::verify::Item::Block(mut block)) = chain::verify::Item::parse(&text) else {
            continue;
        };
        let name = path.file_stem().expect("a file").to_string_lossy().into_owned();
        // A block served with hashes only gets the transactions of the same
        // block among the fixtures (the message's shape is what is fuzzed).
        if !matches!(block.transactions, chain::model::BlockTransactions::Full(_)) {
            let prefix = match name.find("_block") {
                Some(at) => {
                    let rest = &name[at + 1..];
                    let end = rest.find('_').map_or(rest.len(), |e| e + 1);
                    name[..at + 1 + end].to_string()
                }
                None => continue,
            };
            let mut txs = Vec::new();
            let mut tx_names: Vec<_> = fs::read_dir(&fixtures)
                .expect("the chain_json seeds")
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    n.is_some_and(|n| n.starts_with(&format!("{prefix}tx_")))
                })
                .collect();
            tx_names.sort();
            for t in tx_names {
                let text = fs::read_to_string(&t).expect("read fixture");
                if let Ok(chain::verify::Item::Transaction(tx)) = chain::verify::Item::parse(&text) {
                    txs.push(tx);
                }
            }
            block.transactions = chain::model::BlockTransactions::Full(txs);
        }
        let chain::model::BlockTransactions::Full(txs) = &block.transactions else {
            continue;
        };
        let envelopes: Vec<stream::wire::Envelope> = txs
            .iter()
            .enumerate()
            .map(|(i, _)| stream::wire::Envelope {
                class: if i % 2 == 0 { "opened" } else { "plain" }.into(),
                detail: "seed".into(),
                sealed_record: (i % 2 == 0).then(|| vec![1, 2, 3, i as u8]),
            })
            .collect();
        let json = stream::wire::encode_json("sh", "group0", "obs-a", &block, &envelopes, None)
            .expect("encode");
        let msg = stream::wire::encode("sh", "group0", "obs-a", &block, &envelopes, None)
            .expect("encode");
        stream::wire::decode("sh", &msg).expect("a seed message decodes");
        out.put(t, &format!("{name}.json"), &json);
        out.put(t, &format!("{name}.zst"), &msg);
        written += 1;
    }
    assert!(written > 0, "no block fixture among the chain_json seeds");
}

fn main() {
    let dir = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"),
        PathBuf::from,
    );
    let mut out = Out { dir, total: 0 };
    envelope_seeds(&mut out);
    sm2_seeds(&mut out);
    key_seeds(&mut out);
    stream_seeds(&mut out);
    // Sanity: the envelope seeds open as their names say.
    let kr = lookthrough_fuzz::keyring(0);
    let ctx = context();
    for entry in fs::read_dir(out.dir.join("envelope_open")).expect("read seeds") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let class = kr
            .open(&fs::read(&path).expect("read"), &ctx)
            .class()
            .as_str();
        let expected = name.split('-').next().unwrap_or("");
        let ok = match expected {
            "opened" => class == "opened",
            "not" => class == "not-for-us" || class == "not-envelope",
            "wrong" => class.starts_with("wrong"),
            "inconsistent" => class == "inconsistent",
            _ => class == "malformed",
        };
        assert!(
            ok,
            "seed {name} opens as {class}: {}",
            kr.open(&fs::read(&path).expect("read"), &ctx).describe()
        );
    }
    println!(
        "wrote {} bytes of seeds under {}",
        out.total,
        out.dir.display()
    );
}
