//! The generator of `docs/envelope-vectors.json`, shared by the example that
//! writes the file and the test that checks the committed file is current.
//!
//! Everything is drawn from a seeded ChaCha20 stream, so the output is
//! reproducible byte for byte.

use privacy::envelope::{Envelope, SealingSession, TxContext};
use privacy::keys::{KeyId, PrivateKey, PublicKey};
use privacy::pke::{CipherFormat, encrypt_with};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The whole file.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct VectorFile {
    pub about: String,
    pub keys: Vec<NamedKey>,
    pub vectors: Vec<Vector>,
}

/// A key used by the vectors.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct NamedKey {
    pub name: String,
    /// 32-byte private scalar, hex.
    pub private_key: String,
    /// 65-byte uncompressed public key, hex.
    pub public_key: String,
    /// SM3 of the public key (the envelope's rid), hex.
    pub key_id: String,
}

/// One case.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Vector {
    pub name: String,
    pub description: String,
    /// Names of the keys in the opener's keyring.
    pub open_with: Vec<String>,
    pub context: Context,
    pub envelope: String,
    /// A class from docs/envelope.md §7.
    pub expected: String,
    /// The payload, hex, when `expected` is `opened`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payload: Option<String>,
}

/// A transaction context.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
pub struct Context {
    pub chain_id: String,
    pub group_id: String,
    pub sender: String,
}

impl Context {
    pub fn to_tx(&self) -> TxContext {
        let sender: [u8; 20] = hex::decode(&self.sender)
            .expect("sender hex")
            .try_into()
            .expect("20-byte sender");
        TxContext::new(&self.chain_id, &self.group_id, sender).expect("valid context")
    }

    fn of(ctx: &TxContext) -> Self {
        Self {
            chain_id: ctx.chain_id.clone(),
            group_id: ctx.group_id.clone(),
            sender: hex::encode(ctx.sender),
        }
    }
}

struct Gen {
    rng: ChaCha20Rng,
    keys: Vec<(String, PrivateKey)>,
    vectors: Vec<Vector>,
}

impl Gen {
    fn key(&mut self, name: &str) -> PrivateKey {
        let key = PrivateKey::generate_with(&mut self.rng).expect("key");
        self.keys.push((name.to_string(), key.clone()));
        key
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        name: &str,
        description: &str,
        open_with: &[&str],
        ctx: &TxContext,
        envelope: &[u8],
        expected: &str,
        payload: Option<&[u8]>,
    ) {
        self.vectors.push(Vector {
            name: name.into(),
            description: description.into(),
            open_with: open_with.iter().map(|s| s.to_string()).collect(),
            context: Context::of(ctx),
            envelope: hex::encode(envelope),
            expected: expected.into(),
            payload: payload.map(hex::encode),
        });
    }
}

fn reencode<'a>(envelope: &'a [u8], edit: impl FnOnce(&mut Envelope<'a>)) -> Vec<u8> {
    let mut env = Envelope::parse(envelope).expect("parse sealed envelope");
    edit(&mut env);
    env.encode().expect("encode")
}

/// Builds every vector.
pub fn generate() -> VectorFile {
    let mut g = Gen {
        rng: ChaCha20Rng::from_seed(*b"lookthrough envelope vectors v1!"),
        keys: Vec::new(),
        vectors: Vec::new(),
    };
    let regulator = g.key("regulator");
    let regulator_old = g.key("regulator-2025");
    let bank = g.key("counterparty-bank");
    let firm = g.key("counterparty-firm");
    let outsider = g.key("outsider");
    let ctx = TxContext::new(
        "chain0",
        "group0",
        [
            0x5b, 0x38, 0xda, 0x6a, 0x70, 0x1c, 0x56, 0x85, 0x45, 0xdc, 0xfc, 0xb0, 0x3f, 0xcb,
            0x87, 0x5f, 0x56, 0xbe, 0xdd, 0xc4,
        ],
    )
    .expect("ctx");
    let other_ctx = TxContext::new("chain0", "group1", ctx.sender).expect("ctx");
    let payload = "{\"scenario\":\"跨境汇款\",\"amount\":\"1250000.00\",\"currency\":\"CNY\",\"memo\":\"货款 invoice 2026-117\"}".as_bytes();
    let pks = |ks: &[&PrivateKey]| -> Vec<PublicKey> {
        ks.iter().map(|k| k.public_key().clone()).collect()
    };

    let mut session =
        SealingSession::new_with(&mut g.rng, &pks(&[&bank, &firm, &regulator])).expect("session");
    let basic = session.seal_with(&mut g.rng, &ctx, payload).expect("seal");
    g.push(
        "opened-three-recipients",
        "sealed for two parties and the regulator; the regulator opens it",
        &["regulator"],
        &ctx,
        &basic,
        "opened",
        Some(payload),
    );
    g.push(
        "opened-by-counterparty",
        "the same envelope opened by a party gives the same payload",
        &["counterparty-firm"],
        &ctx,
        &basic,
        "opened",
        Some(payload),
    );
    let second = session
        .seal_with(&mut g.rng, &ctx, b"second transaction of the session")
        .expect("seal");
    g.push(
        "opened-session-reuse",
        "a second envelope under the same session key: same wraps, fresh nonce",
        &["regulator"],
        &ctx,
        &second,
        "opened",
        Some(b"second transaction of the session"),
    );

    let mut s = SealingSession::new_with(&mut g.rng, &pks(&[&regulator])).expect("session");
    let empty = s.seal_with(&mut g.rng, &ctx, b"").expect("seal");
    g.push(
        "opened-empty-payload",
        "a zero-length payload",
        &["regulator"],
        &ctx,
        &empty,
        "opened",
        Some(b""),
    );

    let mut s =
        SealingSession::new_with(&mut g.rng, &pks(&[&bank, &regulator_old])).expect("session");
    let old = s.seal_with(&mut g.rng, &ctx, payload).expect("seal");
    g.push(
        "opened-rotated-key",
        "sealed to last year's regulator key; a keyring holding the new and the old key opens it",
        &["regulator", "regulator-2025"],
        &ctx,
        &old,
        "opened",
        Some(payload),
    );

    let mut s = SealingSession::new_with(&mut g.rng, &pks(&[&bank, &firm])).expect("session");
    let private_only = s.seal_with(&mut g.rng, &ctx, payload).expect("seal");
    g.push(
        "not-for-us",
        "a private transaction wrapped for the parties only",
        &["regulator"],
        &ctx,
        &private_only,
        "not-for-us",
        None,
    );

    g.push(
        "wrong-context",
        "a valid envelope presented in another group's transaction",
        &["regulator"],
        &other_ctx,
        &basic,
        "wrong-context",
        None,
    );

    // Inconsistent: the regulator's wrap carries a different data key from the
    // one the envelope commits to (and encrypts under).
    let mut other_key = Zeroizing::new([0u8; 16]);
    rand_core::Rng::fill_bytes(&mut g.rng, &mut *other_key);
    let forged_wrap = encrypt_with(
        regulator.public_key(),
        &mut g.rng,
        &*other_key,
        CipherFormat::Der,
    )
    .expect("wrap");
    let reg_id: KeyId = regulator.key_id();
    let inconsistent = reencode(&basic, |env| {
        for r in env.recipients.iter_mut() {
            if r.rid == reg_id {
                r.wrap = &forged_wrap;
            }
        }
    });
    g.push("inconsistent", "the regulator's wrap holds a different data key than the committed one: the sender shows the regulator something else", &["regulator"], &ctx, &inconsistent, "inconsistent", None);

    let outsider_wrap = encrypt_with(
        outsider.public_key(),
        &mut g.rng,
        &[9u8; 16],
        CipherFormat::Der,
    )
    .expect("wrap");
    let wrong_key = reencode(&basic, |env| {
        for r in env.recipients.iter_mut() {
            if r.rid == reg_id {
                r.wrap = &outsider_wrap;
            }
        }
    });
    g.push(
        "wrong-key",
        "the regulator's rid with a wrap encrypted to another key",
        &["regulator"],
        &ctx,
        &wrong_key,
        "wrong-key",
        None,
    );

    // Flip the last bit of the GCM tag.
    let env = Envelope::parse(&basic).expect("parse");
    let mut ct = env.ciphertext.to_vec();
    let n = ct.len();
    ct[n - 1] ^= 0x01;
    let tag_flipped = reencode(&basic, |e| e.ciphertext = &ct);
    g.push(
        "malformed-tag",
        "one bit of the SM4-GCM tag flipped",
        &["regulator"],
        &ctx,
        &tag_flipped,
        "malformed",
        None,
    );

    let truncated = &basic[..basic.len() - 7];
    g.push(
        "malformed-truncated",
        "the last 7 bytes cut off",
        &["regulator"],
        &ctx,
        truncated,
        "malformed",
        None,
    );

    let profile2 = reencode(&basic, |e| e.profile = 2);
    g.push(
        "malformed-unknown-profile",
        "EnvelopeParams.profile is 2, a version this reader does not know",
        &["regulator"],
        &ctx,
        &profile2,
        "malformed",
        None,
    );

    let dup = reencode(&basic, |e| {
        let first = e.recipients[0].clone();
        e.recipients.push(first);
    });
    g.push(
        "malformed-duplicate-recipient",
        "the same rid twice in recipientInfos",
        &["regulator"],
        &ctx,
        &dup,
        "malformed",
        None,
    );

    let mut trailing = basic.clone();
    trailing.push(0);
    g.push(
        "malformed-trailing-byte",
        "one byte after the ContentInfo",
        &["regulator"],
        &ctx,
        &trailing,
        "malformed",
        None,
    );

    g.push(
        "not-envelope-json",
        "a public transaction's JSON payload",
        &["regulator"],
        &ctx,
        b"{\"transfer\":{\"to\":\"0x01\",\"amount\":5}}",
        "not-envelope",
        None,
    );
    g.push("not-envelope-abi", "a public ABI call: transfer(address,uint256) selector and arguments", &["regulator"], &ctx, &hex::decode("a9059cbb0000000000000000000000005b38da6a701c568545dcfcb03fcb875f56beddc400000000000000000000000000000000000000000000000000000000000003e8").expect("hex"), "not-envelope", None);

    VectorFile {
        about: "Test vectors for the lookthrough supervised envelope v1 (docs/envelope.md). For each vector, load the keys named in open_with into a keyring, open the envelope in the given context, and check the class (docs/envelope.md section 7) and, for 'opened', the payload. Generated by `cargo run -p privacy --example envelope_vectors`.".into(),
        keys: g
            .keys
            .iter()
            .map(|(name, k)| NamedKey {
                name: name.clone(),
                private_key: hex::encode(*k.to_scalar_bytes()),
                public_key: hex::encode(k.public_key().to_uncompressed()),
                key_id: k.key_id().to_hex(),
            })
            .collect(),
        vectors: g.vectors,
    }
}

/// The file's text: pretty JSON with a trailing newline.
pub fn render(file: &VectorFile) -> String {
    let mut s = serde_json::to_string_pretty(file).expect("serialise");
    s.push('\n');
    s
}
