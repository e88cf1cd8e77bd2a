//! Evidence packs made from a store as the node fills it, checked by the
//! crate's verifier and by an independent one in Python
//! (`tests/verify_pack.py`: gmssl for SM3 and the SM4 block, the curve in
//! plain integers); single-byte changes spread over every part of a pack are
//! refused by both, naming the same part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use evidence::export::{ChainSource, Exporter, TxRef};
use evidence::pack::{Pack, Subject};
use evidence::verify::verify_bytes;
use privacy::keys::PrivateKey;

struct Fixture {
    _dir: tempfile::TempDir,
    pack: Vec<u8>,
    node_key: std::sync::Arc<PrivateKey>,
    /// (hash, class) of the transactions in the pack.
    txs: Vec<(String, String)>,
}

/// A pack of an opened, a public and a third class's transaction of a
/// devnet chain stored as the node stores it.
fn fixture() -> Fixture {
    let chain = testkit::chain(11, 16);
    let dir = tempfile::tempdir().unwrap();
    let store = testkit::store(&chain, &dir.path().join("store"));
    let mut picked: Vec<(chain::hexbytes::Hash, String)> = Vec::new();
    for h in 1..=store.checkpoint().unwrap().unwrap() {
        for t in store.transactions_at(h).unwrap() {
            // One of each class, at most three.
            if picked.len() < 3 && !picked.iter().any(|(_, c)| *c == t.class) {
                picked.push((t.tx.claimed_hash, t.class));
            }
        }
    }
    assert_eq!(
        picked.len(),
        3,
        "the workload has three classes: {picked:?}"
    );
    assert!(picked.iter().any(|(_, c)| c == "opened"), "{picked:?}");
    assert!(
        picked.iter().any(|(_, c)| c == "not-envelope"),
        "{picked:?}"
    );
    let node_key = std::sync::Arc::new(PrivateKey::generate().unwrap());
    let sources = vec![ChainSource {
        id: "main".into(),
        group: chain.devnet.config().group_id.clone(),
        suite: chain::CryptoSuite::Sm,
        store: store.clone(),
    }];
    let exporter = Exporter {
        chains: sources,
        keyring: std::sync::Arc::new(testkit::keyring(&chain.workload)),
        node_key: node_key.clone(),
    };
    let refs: Vec<TxRef> = picked
        .iter()
        .map(|(h, _)| TxRef {
            chain: None,
            hash: *h,
        })
        .collect();
    let pack = exporter
        .export(
            Subject {
                kind: "transactions".into(),
                alert: None,
            },
            &refs,
            1_796_700_000_123,
        )
        .unwrap();
    Fixture {
        _dir: dir,
        pack: pack.to_bytes().unwrap(),
        node_key,
        txs: picked
            .into_iter()
            .map(|(h, c)| (chain::hexbytes::encode0x(&h), c))
            .collect(),
    }
}

fn python_verify(paths: &[PathBuf]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verify_pack.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(paths)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some() && stdout.lines().count() == paths.len(),
        "the Python verifier needs gmssl (`python3 -m pip install gmssl==3.2.2`, as .ci/run does): {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

#[test]
fn a_pack_proves_its_transactions_to_both_verifiers() {
    let f = fixture();
    let verified = verify_bytes(&f.pack, Some(f.node_key.public_key())).unwrap();
    assert_eq!(verified.transactions.len(), 3);
    for ((hash, class), v) in f.txs.iter().zip(&verified.transactions) {
        assert_eq!(&v.hash, hash);
        assert_eq!(&v.class, class);
        assert!(v.receipt, "the receipt of {hash} is proven");
        assert_eq!(v.plaintext.is_some(), class == "opened");
    }
    let opened = verified
        .transactions
        .iter()
        .find(|t| t.class == "opened")
        .unwrap();
    let text = String::from_utf8(opened.plaintext.clone().unwrap()).unwrap();
    assert!(
        text.starts_with('{'),
        "the workload's payloads are JSON records: {text}"
    );
    assert_eq!(verified.chains[0].trust, "first-use");
    assert_eq!(verified.chains[0].committees, 1);
    // The genesis block lists the sealers; a first-use anchor is not
    // compared with it.
    assert!(!verified.chains[0].anchored_in_genesis);

    // Another node key is named as such.
    let other = PrivateKey::generate().unwrap();
    let err = verify_bytes(&f.pack, Some(other.public_key())).unwrap_err();
    assert_eq!(err.part, "seal");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack.json");
    std::fs::write(&path, &f.pack).unwrap();
    assert_eq!(python_verify(&[path]), vec!["ok".to_string()]);

    // The file reads back to the same body.
    let read = Pack::read(&f.pack).unwrap();
    assert_eq!(read.body.transactions.len(), 3);
}

/// A string or number of the pack file and its path (`body.chains[0].id`).
#[derive(Debug)]
struct Leaf {
    start: usize,
    end: usize,
    path: String,
    is_string: bool,
}

/// The leaves of a JSON text with their byte spans, by a small reader that
/// follows the structure (the pack is valid JSON).
fn leaves(text: &[u8]) -> Vec<Leaf> {
    fn ws(t: &[u8], mut i: usize) -> usize {
        while i < t.len() && t[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    }
    fn string_end(t: &[u8], mut i: usize) -> usize {
        i += 1;
        while t[i] != b'"' {
            if t[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    }
    fn value(t: &[u8], i: usize, path: &str, out: &mut Vec<Leaf>) -> usize {
        let i = ws(t, i);
        match t[i] {
            b'{' => {
                let mut i = ws(t, i + 1);
                if t[i] == b'}' {
                    return i + 1;
                }
                loop {
                    let end = string_end(t, i);
                    let key = std::str::from_utf8(&t[i + 1..end - 1]).unwrap().to_string();
                    i = ws(t, end);
                    assert_eq!(t[i], b':');
                    i = value(t, i + 1, &format!("{path}.{key}"), out);
                    i = ws(t, i);
                    if t[i] == b'}' {
                        return i + 1;
                    }
                    i = ws(t, i + 1);
                }
            }
            b'[' => {
                let mut i = ws(t, i + 1);
                if t[i] == b']' {
                    return i + 1;
                }
                let mut k = 0;
                loop {
                    i = value(t, i, &format!("{path}[{k}]"), out);
                    k += 1;
                    i = ws(t, i);
                    if t[i] == b']' {
                        return i + 1;
                    }
                    i += 1;
                }
            }
            b'"' => {
                let end = string_end(t, i);
                out.push(Leaf {
                    start: i + 1,
                    end: end - 1,
                    path: path.to_string(),
                    is_string: true,
                });
                end
            }
            _ => {
                let mut end = i;
                while end < t.len() && !b",]} \n".contains(&t[end]) {
                    end += 1;
                }
                if t[i].is_ascii_digit() || t[i] == b'-' {
                    out.push(Leaf {
                        start: i,
                        end,
                        path: path.to_string(),
                        is_string: false,
                    });
                }
                end
            }
        }
    }
    let mut out = Vec::new();
    value(text, 0, "", &mut out);
    out
}

/// The part a verifier must name when a byte of the leaf at `path` changes.
fn expected_part(path: &str) -> String {
    let p = path.trim_start_matches('.');
    // Fields no check covers but the seal.
    for uncovered in [
        ".transaction.importTime",
        ".receipt.from",
        ".receipt.to",
        ".receipt.input",
        ".receipt.checksumContractAddress",
    ] {
        if p.ends_with(uncovered) {
            return "seal".into();
        }
    }
    if p.starts_with("body.made_at") || p.starts_with("body.made_by") || p.starts_with("seal") {
        return "seal".into();
    }
    let p = p.trim_start_matches("body.");
    if let Some(rest) = p.strip_prefix("chains[") {
        let (i, rest) = rest.split_once(']').unwrap();
        if let Some(step) = rest.strip_prefix(".committees[") {
            let k = step.split_once(']').unwrap().0;
            return format!("chains[{i}].committees[{k}]");
        }
        return format!("chains[{i}]");
    }
    if let Some(rest) = p.strip_prefix("transactions[") {
        let (j, rest) = rest.split_once(']').unwrap();
        let field = rest.trim_start_matches('.');
        let field = field.split(['.', '[']).next().unwrap();
        let part = match field {
            "index" => "tx_proof".to_string(),
            "opening" => {
                let sub = rest.trim_start_matches(".opening.");
                match sub {
                    "envelope_offset" | "envelope_length" => "envelope",
                    "regulator_key" | "shared_point" | "dleq_c" | "dleq_z" => "dleq",
                    "data_key" => "data_key",
                    "plaintext" => "plaintext",
                    other => panic!("unexpected opening field {other}"),
                }
                .to_string()
            }
            other => other.to_string(),
        };
        return format!("transactions[{j}].{part}");
    }
    panic!("no part for {path}")
}

const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";

/// Places where one byte can change and the JSON stays valid: a hex digit of
/// a hex string (after `0x`) or a digit of a number (not the first, which
/// could become a leading zero) or of the time's seconds.
fn candidates(text: &[u8]) -> Vec<(usize, String, &'static [u8])> {
    let mut out = Vec::new();
    for leaf in leaves(text) {
        let s = &text[leaf.start..leaf.end];
        let hexlike = leaf.is_string
            && !s.is_empty()
            && s.strip_prefix(b"0x")
                .unwrap_or(s)
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let from = if leaf.is_string && s.starts_with(b"0x") {
            2
        } else {
            0
        };
        if leaf.path == ".body.made_at" {
            // The seconds' last digit: still a valid time.
            let at = s.iter().position(|&b| b == b'.').unwrap_or(s.len()) - 1;
            out.push((leaf.start + at, leaf.path.clone(), DIGITS));
            continue;
        }
        if hexlike && s.len() > from {
            for k in from..s.len() {
                out.push((leaf.start + k, leaf.path.clone(), HEX));
            }
        } else if !leaf.is_string && s.len() > 1 && s.iter().all(u8::is_ascii_digit) {
            for k in 1..s.len() {
                out.push((leaf.start + k, leaf.path.clone(), DIGITS));
            }
        }
    }
    out
}

/// A single-byte change of a pack and the part a verifier must name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Mutation {
    offset: usize,
    /// The new byte, as a one-character string.
    byte: String,
    part: String,
}

/// 40 single-byte changes of `pack`, seeded, taken from every part in turn
/// so that every part is changed.
fn choose_mutations(pack: &[u8], seed: u64) -> (Vec<Mutation>, usize) {
    let mut by_part: std::collections::BTreeMap<String, Vec<(usize, &[u8])>> = Default::default();
    for (at, path, alphabet) in candidates(pack) {
        by_part
            .entry(expected_part(&path))
            .or_default()
            .push((at, alphabet));
    }
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let parts: Vec<&String> = by_part.keys().collect();
    assert!(parts.len() >= 20, "parts: {parts:?}");
    let mut chosen: Vec<Mutation> = Vec::new();
    let mut k = 0;
    while chosen.len() < 40 {
        let part = parts[k % parts.len()];
        let places = &by_part[part];
        let (at, alphabet) = places[(next() % places.len() as u64) as usize];
        if !chosen.iter().any(|m| m.offset == at) {
            let choices: Vec<u8> = alphabet
                .iter()
                .copied()
                .filter(|&d| d != pack[at])
                .collect();
            let byte = choices[(next() % choices.len() as u64) as usize];
            chosen.push(Mutation {
                offset: at,
                byte: (byte as char).to_string(),
                part: part.clone(),
            });
        }
        k += 1;
    }
    (chosen, parts.len())
}

/// Checks that each mutation of `pack` is refused by both verifiers naming
/// its part; returns what went wrong.
fn refused_by_both(
    pack: &[u8],
    mutations: &[Mutation],
    signer: &privacy::keys::PublicKey,
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (n, m) in mutations.iter().enumerate() {
        let mut bytes = pack.to_vec();
        bytes[m.offset] = m.byte.as_bytes()[0];
        let path = dir.path().join(format!("mutant-{n:02}.json"));
        std::fs::write(&path, &bytes).unwrap();
        paths.push(path);
    }
    let python = python_verify(&paths);
    let mut wrong = Vec::new();
    for ((m, path), py) in mutations.iter().zip(&paths).zip(&python) {
        let (at, part) = (m.offset, &m.part);
        let bytes = std::fs::read(path).unwrap();
        let rust = verify_bytes(&bytes, Some(signer));
        let context =
            String::from_utf8_lossy(&pack[at.saturating_sub(30)..(at + 10).min(pack.len())])
                .replace('\n', " ");
        match rust {
            Ok(_) => wrong.push(format!(
                "byte {at} ({part}, …{context}…): the Rust verifier accepted it"
            )),
            Err(e) if &e.part != part => wrong.push(format!(
                "byte {at} ({part}, …{context}…): the Rust verifier named {e}"
            )),
            Err(_) => {}
        }
        println!("byte {at:>6} {part:<32} python: {py}");
        if !py.starts_with(&format!("FAIL {part}:")) {
            wrong.push(format!(
                "byte {at} ({part}, …{context}…): the Python verifier said {py}"
            ));
        }
    }
    wrong
}

#[test]
fn forty_single_byte_changes_over_every_part_are_refused_by_both_verifiers_naming_the_part() {
    let f = fixture();
    let seed: u64 = std::env::var("EVIDENCE_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_e71d);
    let (chosen, parts) = choose_mutations(&f.pack, seed);
    let wrong = refused_by_both(&f.pack, &chosen, f.node_key.public_key());
    assert!(
        wrong.is_empty(),
        "{} of 40 mutations (seed {seed}):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let hit: std::collections::BTreeSet<&String> = chosen.iter().map(|m| &m.part).collect();
    assert_eq!(hit.len(), parts, "every part was changed at least once");
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/evidence-vectors")
}

/// One DLEQ vector (`docs/evidence.md` §4).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DleqVector {
    what: String,
    public_key: String,
    c1: String,
    shared_point: String,
    c: String,
    z: String,
    valid: bool,
}

fn dleq_vectors() -> Vec<DleqVector> {
    use privacy::pke::{CipherFormat, Sm2Cipher, encrypt};
    let key = privacy::keys::PrivateKey::from_scalar_bytes(&[7u8; 32]).unwrap();
    let cipher = |m: &[u8]| {
        let der = encrypt(key.public_key(), m, CipherFormat::Der).unwrap();
        Sm2Cipher::parse(&der, CipherFormat::Der).unwrap()
    };
    let a = cipher(b"0123456789abcdef");
    let b = cipher(b"fedcba9876543210");
    let (pa, _) = key.prove_wrap(&a).unwrap();
    let (pb, _) = key.prove_wrap(&b).unwrap();
    let c1 = |c: &Sm2Cipher| format!("04{}{}", hex::encode(c.x), hex::encode(c.y));
    let v = |what: &str, c: &Sm2Cipher, p: &privacy::dleq::WrapProof, valid: bool| DleqVector {
        what: what.into(),
        public_key: hex::encode(key.public_key().to_uncompressed()),
        c1: c1(c),
        shared_point: hex::encode(p.shared),
        c: hex::encode(p.c),
        z: hex::encode(p.z),
        valid,
    };
    let mut z_changed = pa.clone();
    z_changed.z[31] ^= 1;
    let mut other_shared = pa.clone();
    other_shared.shared = pb.shared;
    let mut n = pa.clone();
    n.z = hex::decode("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123")
        .unwrap()
        .try_into()
        .unwrap();
    vec![
        v("a valid proof", &a, &pa, true),
        v("another valid proof", &b, &pb, true),
        v("z changed", &a, &z_changed, false),
        v("z = n", &a, &n, false),
        v(
            "the shared point of another ciphertext",
            &a,
            &other_shared,
            false,
        ),
    ]
}

/// `docs/evidence-vectors/`: a pack, 40 mutations of it and DLEQ proofs,
/// checked here against both verifiers. `UPDATE_EVIDENCE_VECTORS=1` writes
/// them again (a new pack: its DLEQ nonces are random).
#[test]
fn the_documented_vectors_hold() {
    let dir = vectors_dir();
    if std::env::var_os("UPDATE_EVIDENCE_VECTORS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let f = fixture();
        std::fs::write(dir.join("pack.json"), &f.pack).unwrap();
        let (mutations, _) = choose_mutations(&f.pack, 0x5eed_e71d);
        std::fs::write(
            dir.join("mutations.json"),
            serde_json::to_string_pretty(&mutations).unwrap() + "\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("dleq.json"),
            serde_json::to_string_pretty(&dleq_vectors()).unwrap() + "\n",
        )
        .unwrap();
    }
    let pack = std::fs::read(dir.join("pack.json")).unwrap();
    let verified = verify_bytes(&pack, None).unwrap();
    let read = Pack::read(&pack).unwrap();
    let signer =
        privacy::keys::PublicKey::from_bytes(&hex::decode(&read.body.made_by).unwrap()).unwrap();
    assert_eq!(verified.signer_key_id, signer.key_id().to_hex());
    let name = dir.join("pack.json");
    assert_eq!(python_verify(&[name]), vec!["ok".to_string()]);
    let mutations: Vec<Mutation> =
        serde_json::from_slice(&std::fs::read(dir.join("mutations.json")).unwrap()).unwrap();
    assert_eq!(mutations.len(), 40);
    let wrong = refused_by_both(&pack, &mutations, &signer);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let dleq: Vec<DleqVector> =
        serde_json::from_slice(&std::fs::read(dir.join("dleq.json")).unwrap()).unwrap();
    assert_eq!(dleq.len(), 5);
    for v in &dleq {
        let public =
            privacy::keys::PublicKey::from_bytes(&hex::decode(&v.public_key).unwrap()).unwrap();
        let c1: [u8; 65] = hex::decode(&v.c1).unwrap().try_into().unwrap();
        let proof = privacy::dleq::WrapProof {
            shared: hex::decode(&v.shared_point).unwrap().try_into().unwrap(),
            c: hex::decode(&v.c).unwrap().try_into().unwrap(),
            z: hex::decode(&v.z).unwrap().try_into().unwrap(),
        };
        assert_eq!(
            privacy::dleq::verify_dleq(&public, &c1, &proof).is_ok(),
            v.valid,
            "{}",
            v.what
        );
    }
    let python = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verify_pack.py"))
        .arg("--dleq")
        .arg(dir.join("dleq.json"))
        .output()
        .expect("python3 runs");
    let said: Vec<String> = String::from_utf8_lossy(&python.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let want: Vec<String> = dleq
        .iter()
        .map(|v| if v.valid { "valid" } else { "invalid" }.to_string())
        .collect();
    assert_eq!(said, want, "{}", String::from_utf8_lossy(&python.stderr));
}
