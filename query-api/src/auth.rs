//! Who is asking. Every request but `/healthz` carries
//! `Authorization: Bearer <token>`, where the token is either
//!
//! - an **API token** made by `lookthrough token create` or the
//!   `createToken` mutation: `lt_<id>_<secret>`. The store keeps its id,
//!   name, role and the SM3 digest of the secret, never the secret; or
//! - a **JWT** from the organisation's identity provider, checked against
//!   the configured algorithm, key, issuer and audience; its role comes
//!   from a claim (`role` unless configured otherwise).
//!
//! Either way the request gets a [`Principal`] with one [`Role`]. What a
//! role may do is decided here ([`Role::reads_plaintext`] and friends) and
//! enforced on fields by the schema.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use store::{Store, StoreError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::records::MAX_TOKENS;

/// What a caller may do.
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: tokens, rules, configuration, and what the others may.
    Admin,
    /// Reads decrypted payloads (every read is audited).
    Analyst,
    /// Reads the audit log and metadata; never plaintext.
    Auditor,
    /// Reads metadata and public payloads only.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Analyst, Role::Auditor, Role::Viewer];

    /// The role's name, as tokens and claims spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
        }
    }

    /// May read decrypted payloads, and search or sort by what they hold.
    pub fn reads_plaintext(self) -> bool {
        matches!(self, Role::Admin | Role::Analyst)
    }

    /// May read the audit log.
    pub fn reads_audit(self) -> bool {
        matches!(self, Role::Admin | Role::Auditor)
    }

    /// May manage tokens, rules and configuration.
    pub fn administers(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AuthError::UnknownRole(s.to_string()))
    }
}

/// How a caller proved who they are.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Credential {
    /// An API token.
    Token,
    /// A JWT from the identity provider.
    Jwt,
}

impl Credential {
    /// `token` or `jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Token => "token",
            Credential::Jwt => "jwt",
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Token or JWT.
    pub credential: Credential,
    /// The token id, or the JWT's subject.
    pub id: String,
    /// The token's name, or the JWT's subject.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// A key naming this caller for rate limits.
    pub fn limit_key(&self) -> String {
        match self.credential {
            Credential::Token => format!("token:{}", self.id),
            Credential::Jwt => format!("jwt:{}", self.id),
        }
    }
}

/// Why a caller was refused, or a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing Authorization header: send `Authorization: Bearer <token>`")]
    Missing,
    /// The header is not a bearer token.
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    /// Not a token this node issued (unknown id or wrong secret: the two
    /// are not told apart).
    #[error("invalid API token")]
    InvalidToken,
    /// The token was revoked.
    #[error("API token {0} has been revoked")]
    Revoked(String),
    /// A JWT was sent but none are accepted.
    #[error("JWT bearer tokens are not accepted here (no [auth.jwt] is configured)")]
    JwtNotAccepted,
    /// The JWT failed a check.
    #[error("invalid JWT: {0}")]
    Jwt(String),
    /// The JWT's role claim is missing or names no single known role.
    #[error("invalid JWT: {0}")]
    JwtRole(String),
    /// A role name that is not one of admin, analyst, auditor, viewer.
    #[error("unknown role {0:?}: expected admin, analyst, auditor or viewer")]
    UnknownRole(String),
    /// No token with this id.
    #[error("no API token {0:?}")]
    NoSuchToken(String),
    /// The store holds as many tokens as it keeps.
    #[error(
        "the store holds {0} API tokens, the most kept (revoked ones included): no more can be made"
    )]
    TooMany(usize),
    /// A token name that cannot be used.
    #[error("invalid token name: {0}")]
    BadName(String),
    /// The JWT configuration is unusable.
    #[error("JWT configuration: {0}")]
    JwtConfig(String),
    /// A stored token record does not decode.
    #[error("corrupt token record {id:?}: {reason}")]
    Corrupt {
        /// The token id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The system's random generator failed.
    #[error("the system random generator failed")]
    Rng,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// Whether the caller is at fault (401), rather than the server (500).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            AuthError::Missing
                | AuthError::NotBearer
                | AuthError::InvalidToken
                | AuthError::Revoked(_)
                | AuthError::JwtNotAccepted
                | AuthError::Jwt(_)
                | AuthError::JwtRole(_)
        )
    }
}

/// An API token as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id (16 hex digits), part of the token.
    pub id: String,
    /// Who or what it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it was made (ms since the epoch).
    pub created_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<i64>,
    /// SM3 digest of the secret, hex.
    secret_sm3: String,
}

const TOKEN_PREFIX: &str = "lt_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Longest token name.
pub const MAX_NAME: usize = 100;

fn secret_digest(secret: &[u8]) -> String {
    hex::encode(privacy::hash::sm3(secret))
}

/// Makes an API token: returns its record (stored) and the token itself,
/// which is shown once and kept nowhere.
pub fn create_token(
    store: &Store,
    name: &str,
    role: Role,
    now_ms: i64,
) -> Result<(TokenRecord, Zeroizing<String>), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AuthError::BadName(format!(
            "{name:?}: give 1 to {MAX_NAME} characters, no control characters"
        )));
    }
    if crate::records::tokens(store, MAX_TOKENS)?.len() >= MAX_TOKENS {
        return Err(AuthError::TooMany(MAX_TOKENS));
    }
    let mut id = [0u8; ID_BYTES];
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    getrandom::fill(&mut id).map_err(|_| AuthError::Rng)?;
    getrandom::fill(secret.as_mut()).map_err(|_| AuthError::Rng)?;
    let id = hex::encode(id);
    let secret_text = Zeroizing::new(URL_SAFE_NO_PAD.encode(secret.as_ref()));
    let record = TokenRecord {
        id: id.clone(),
        name: name.to_string(),
        role,
        created_ms: now_ms,
        revoked_ms: None,
        secret_sm3: secret_digest(secret_text.as_bytes()),
    };
    put_record(store, &record)?;
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{id}_{}", secret_text.as_str()));
    Ok((record, token))
}

fn put_record(store: &Store, record: &TokenRecord) -> Result<(), AuthError> {
    let bytes = serde_json::to_vec(record).map_err(|e| AuthError::Corrupt {
        id: record.id.clone(),
        reason: e.to_string(),
    })?;
    crate::records::put_token(store, &record.id, &bytes)?;
    Ok(())
}

fn read_record(id: &str, bytes: &[u8]) -> Result<TokenRecord, AuthError> {
    serde_json::from_slice(bytes).map_err(|e| AuthError::Corrupt {
        id: id.to_string(),
        reason: e.to_string(),
    })
}

/// Revokes token `id` (kept, marked revoked, so the audit log's names
/// still resolve). Revoking twice keeps the first time.
pub fn revoke_token(store: &Store, id: &str, now_ms: i64) -> Result<TokenRecord, AuthError> {
    let bytes =
        crate::records::token(store, id)?.ok_or_else(|| AuthError::NoSuchToken(id.to_string()))?;
    let mut record = read_record(id, &bytes)?;
    if record.revoked_ms.is_none() {
        record.revoked_ms = Some(now_ms);
        put_record(store, &record)?;
    }
    Ok(record)
}

/// Every token, by id (revoked ones included; at most [`MAX_TOKENS`]).
pub fn list_tokens(store: &Store) -> Result<Vec<TokenRecord>, AuthError> {
    crate::records::tokens(store, MAX_TOKENS)?
        .into_iter()
        .map(|(id, bytes)| read_record(&id, &bytes))
        .collect()
}

/// Checks an API token against the store.
fn check_api_token(store: &Store, token: &str) -> Result<Principal, AuthError> {
    let rest = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(AuthError::InvalidToken)?;
    let (id, secret) = rest.split_once('_').ok_or(AuthError::InvalidToken)?;
    if id.len() != ID_BYTES * 2 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::InvalidToken);
    }
    let bytes = crate::records::token(store, id)?.ok_or(AuthError::InvalidToken)?;
    let record = read_record(id, &bytes)?;
    let presented = secret_digest(secret.as_bytes());
    if !bool::from(presented.as_bytes().ct_eq(record.secret_sm3.as_bytes())) {
        return Err(AuthError::InvalidToken);
    }
    if record.revoked_ms.is_some() {
        return Err(AuthError::Revoked(record.id));
    }
    Ok(Principal {
        credential: Credential::Token,
        id: record.id,
        name: record.name,
        role: record.role,
    })
}

/// How JWTs are checked.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    /// The one algorithm accepted (`HS256`, `RS256`, `ES256`, `EdDSA`, …).
    pub algorithm: String,
    /// The verification key: a PEM public key (RSA, EC, Ed25519), or for
    /// the HS algorithms the shared secret.
    pub key: Zeroizing<Vec<u8>>,
    /// Accepted issuer (`iss`), required.
    pub issuer: String,
    /// Accepted audience (`aud`), required.
    pub audience: String,
    /// The claim naming the role: a string, or an array holding exactly
    /// one of admin, analyst, auditor, viewer.
    pub role_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    pub leeway_secs: u64,
}

/// Checks JWT bearer tokens.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    role_claim: String,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("role_claim", &self.role_claim)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl JwtVerifier {
    /// A verifier for `settings`; a key that does not fit the algorithm is
    /// an error here, not at the first request.
    pub fn new(settings: &JwtSettings) -> Result<Self, AuthError> {
        let alg = Algorithm::from_str(&settings.algorithm).map_err(|_| {
            AuthError::JwtConfig(format!(
                "unknown algorithm {:?} (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA)",
                settings.algorithm
            ))
        })?;
        let bad_key = |e: jsonwebtoken::errors::Error| {
            AuthError::JwtConfig(format!("the key is not a {alg:?} public key: {e}"))
        };
        let key = match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                if settings.key.len() < 32 {
                    return Err(AuthError::JwtConfig(format!(
                        "an {alg:?} secret needs at least 32 bytes, got {}",
                        settings.key.len()
                    )));
                }
                DecodingKey::from_secret(&settings.key)
            }
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => DecodingKey::from_rsa_pem(&settings.key).map_err(bad_key)?,
            Algorithm::ES256 | Algorithm::ES384 => {
                DecodingKey::from_ec_pem(&settings.key).map_err(bad_key)?
            }
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&settings.key).map_err(bad_key)?,
            other => {
                return Err(AuthError::JwtConfig(format!(
                    "algorithm {other:?} is not supported"
                )));
            }
        };
        if settings.issuer.is_empty() || settings.audience.is_empty() {
            return Err(AuthError::JwtConfig(
                "issuer and audience must both be set".into(),
            ));
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway_secs;
        validation.validate_nbf = true;
        Ok(Self {
            key,
            validation,
            role_claim: settings.role_claim.clone(),
        })
    }

    /// Checks `token` and names its caller.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                AuthError::Jwt(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired".to_string(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_string(),
                    ErrorKind::InvalidIssuer => "wrong issuer (iss)".to_string(),
                    ErrorKind::InvalidAudience => "wrong audience (aud)".to_string(),
                    ErrorKind::InvalidSignature => "bad signature".to_string(),
                    ErrorKind::InvalidAlgorithm => "algorithm not accepted".to_string(),
                    ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c:?}"),
                    _ => format!("{e}"),
                })
            })?;
        let claim = data.claims.rest.get(&self.role_claim);
        let names: Vec<&str> = match claim {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(serde_json::Value::as_str).collect()
            }
            _ => Vec::new(),
        };
        let roles: Vec<Role> = names.iter().filter_map(|n| n.parse().ok()).collect();
        let role = match roles.as_slice() {
            [one] => *one,
            [] => {
                return Err(AuthError::JwtRole(format!(
                    "claim {:?} names none of admin, analyst, auditor, viewer",
                    self.role_claim
                )));
            }
            _ => {
                return Err(AuthError::JwtRole(format!(
                    "claim {:?} names several roles; give the token exactly one",
                    self.role_claim
                )));
            }
        };
        Ok(Principal {
            credential: Credential::Jwt,
            id: data.claims.sub.clone(),
            name: data.claims.sub,
            role,
        })
    }
}

/// Turns an `Authorization` header into a [`Principal`].
#[derive(Debug)]
pub struct Authenticator {
    store: Arc<Store>,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// API tokens from `store`; JWTs too when `jwt` is given.
    pub fn new(store: Arc<Store>, jwt: Option<JwtVerifier>) -> Self {
        Self { store, jwt }
    }

    /// Checks the `Authorization` header's value.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::NotBearer)?;
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::NotBearer);
        }
        let token = token.trim();
        if token.starts_with(TOKEN_PREFIX) {
            check_api_token(&self.store, token)
        } else if token.split('.').count() == 3 {
            self.jwt
                .as_ref()
                .ok_or(AuthError::JwtNotAccepted)?
                .verify(token)
        } else {
            Err(AuthError::InvalidToken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        (dir, store)
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn a_token_authenticates_until_it_is_revoked() -> Result<(), AuthError> {
        let (_dir, store) = store();
        let auth = Authenticator::new(store.clone(), None);
        let (record, token) = create_token(&store, "alice", Role::Analyst, 1)?;
        let who = auth.authenticate(Some(&bearer(&token)))?;
        assert_eq!(who.role, Role::Analyst);
        assert_eq!(who.name, "alice");
        assert_eq!(who.id, record.id);
        // The store holds the digest, never the secret.
        let stored = crate::records::token(&store, &record.id)?.expect("stored");
        // `lt_<hex id>_<base64url secret>`: the secret may hold '_' itself.
        let secret = token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(_, secret)| secret)
            .expect("secret");
        assert!(secret.len() >= 40, "{secret}");
        assert!(!String::from_utf8_lossy(&stored).contains(secret));

        revoke_token(&store, &record.id, 2)?;
        let err = auth.authenticate(Some(&bearer(&token))).unwrap_err();
        assert!(matches!(err, AuthError::Revoked(_)), "{err}");
        assert!(err.is_unauthenticated());
        assert_eq!(list_tokens(&store)?[0].revoked_ms, Some(2));
        Ok(())
    }

    #[test]
    fn forged_and_malformed_tokens_are_refused_alike() -> Result<(), AuthError> {
        let (_dir, store) = store();
        let auth = Authenticator::new(store.clone(), None);
        let (record, token) = create_token(&store, "bob", Role::Viewer, 1)?;
        let mut forged = token.to_string();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        for bad in [
            forged.as_str(),
            "lt_",
            "lt_0011223344556677_x",
            &format!("lt_{}", record.id),
            "garbage",
        ] {
            let err = auth.authenticate(Some(&bearer(bad))).unwrap_err();
            assert!(matches!(err, AuthError::InvalidToken), "{bad}: {err}");
        }
        assert!(matches!(
            auth.authenticate(None).unwrap_err(),
            AuthError::Missing
        ));
        assert!(matches!(
            auth.authenticate(Some(format!("Basic {}", token.as_str()).as_bytes()))
                .unwrap_err(),
            AuthError::NotBearer
        ));
        assert!(matches!(
            auth.authenticate(Some(&bearer("a.b.c"))).unwrap_err(),
            AuthError::JwtNotAccepted
        ));
        Ok(())
    }

    #[test]
    fn token_names_and_roles_are_checked() {
        let (_dir, store) = store();
        assert!(matches!(
            create_token(&store, " ", Role::Admin, 0),
            Err(AuthError::BadName(_))
        ));
        assert!(matches!(
            create_token(&store, "a\nb", Role::Admin, 0),
            Err(AuthError::BadName(_))
        ));
        assert!(matches!(
            "root".parse::<Role>(),
            Err(AuthError::UnknownRole(_))
        ));
        assert!(matches!(
            revoke_token(&store, "00", 0),
            Err(AuthError::NoSuchToken(_))
        ));
    }

    #[test]
    fn tokens_stop_at_their_bound() -> Result<(), AuthError> {
        let (_dir, store) = store();
        let (first, _) = create_token(&store, "first", Role::Viewer, 0)?;
        let mut ops = Vec::new();
        for i in 1..MAX_TOKENS {
            let mut r = first.clone();
            r.id = format!("{i:016x}");
            let bytes = serde_json::to_vec(&r).map_err(|e| AuthError::Corrupt {
                id: r.id.clone(),
                reason: e.to_string(),
            })?;
            ops.push(store::Op::Put(
                crate::records::TOKENS,
                r.id.into_bytes(),
                bytes,
            ));
        }
        store.write(&ops)?;
        assert_eq!(list_tokens(&store)?.len(), MAX_TOKENS);
        let err = create_token(&store, "one more", Role::Viewer, 0).unwrap_err();
        assert!(matches!(err, AuthError::TooMany(MAX_TOKENS)), "{err}");
        assert!(err.to_string().contains("10000"), "{err}");
        assert_eq!(list_tokens(&store)?.len(), MAX_TOKENS, "nothing written");
        Ok(())
    }

    #[test]
    fn roles_grant_what_the_brief_says() {
        assert!(Role::Analyst.reads_plaintext() && Role::Admin.reads_plaintext());
        assert!(!Role::Auditor.reads_plaintext() && !Role::Viewer.reads_plaintext());
        assert!(Role::Auditor.reads_audit() && Role::Admin.reads_audit());
        assert!(!Role::Analyst.reads_audit() && !Role::Viewer.reads_audit());
        assert!(Role::Admin.administers());
        assert!(Role::ALL[1..].iter().all(|r| !r.administers()));
    }
}
