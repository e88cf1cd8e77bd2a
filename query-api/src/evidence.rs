//! `evidencePack`: an evidence pack (`docs/evidence.md`) of transactions or
//! of an alert's, for analysts and admins. The pack holds decrypted
//! payloads, so each opened transaction in it is a read in the audit log,
//! and the pack leaves the server only once that entry is written.

use async_graphql::{Context, Object, Result, SimpleObject};
use evidence::export::{ChainSource, Exporter, TxRef};
use evidence::pack::{AlertSubject, Subject};

use crate::auth::Role;
use crate::context::{blocking, read_log, require, state};
use crate::error::{ErrorCode, bad_input, internal};
use crate::model::parse_hash;

/// A pack, ready to save.
#[derive(SimpleObject)]
pub struct EvidencePackFile {
    /// A file name for it.
    pub file_name: String,
    /// The pack: JSON text, as `lookthrough evidence verify` reads it.
    pub content: String,
    /// Its transactions.
    pub transactions: i32,
    /// Of which opened: their plaintext is in the pack.
    pub opened: i32,
    /// SM3 of `content` (hex), to cite the file by.
    pub sm3: String,
}

/// The mutation.
#[derive(Default)]
pub struct EvidenceMutation;

#[Object]
impl EvidenceMutation {
    /// Makes an evidence pack (analysts and admins): of `transactions`
    /// (hashes, `CHAIN:HASH` to name the chain) or of alert `alert`'s
    /// transactions. Each opened transaction in it is logged as a read of
    /// its decrypted payload.
    async fn evidence_pack(
        &self,
        ctx: &Context<'_>,
        transactions: Option<Vec<String>>,
        alert: Option<u64>,
    ) -> Result<EvidencePackFile> {
        require(
            ctx,
            Role::reads_plaintext,
            "decrypted payloads (evidence packs hold them)",
        )?;
        let st = state(ctx)?.clone();
        let Some(keys) = st.evidence.clone() else {
            return Err(ErrorCode::Conflict
                .error("this node has no node key (keys.node): evidence packs cannot be sealed"));
        };
        let mut refs = Vec::new();
        for t in transactions.iter().flatten() {
            let r = TxRef::parse(t).map_err(bad_input)?;
            if let Some(c) = &r.chain {
                st.chains.named(Some(c))?;
            }
            refs.push(r);
        }
        if refs.len() > evidence::pack::MAX_TRANSACTIONS {
            return Err(bad_input(format!(
                "{} transactions: a pack holds at most {}",
                refs.len(),
                evidence::pack::MAX_TRANSACTIONS
            )));
        }
        let reads = read_log(ctx);
        let made = blocking(move || {
            let subject = match (alert, refs.is_empty()) {
                (Some(id), true) => {
                    let a = policies::family::alert(&st.store, id)
                        .map_err(internal)?
                        .ok_or_else(|| ErrorCode::NotFound.error(format!("no alert {id}")))?;
                    if a.transactions.is_empty() {
                        return Err(bad_input(format!(
                            "alert {id} ({}) lists no transactions",
                            a.rule
                        )));
                    }
                    for h in &a.transactions {
                        refs.push(TxRef {
                            chain: None,
                            hash: parse_hash("the alert's transactions", h)?,
                        });
                    }
                    Subject {
                        kind: "alert".into(),
                        alert: Some(AlertSubject {
                            id: id.to_string(),
                            rule: a.rule.clone(),
                            title: a.title.clone(),
                            severity: a.severity.as_str().into(),
                            opened_at: records::time::format_ms(a.created_ms),
                        }),
                    }
                }
                (None, false) => Subject {
                    kind: "transactions".into(),
                    alert: None,
                },
                _ => return Err(bad_input("give transactions or an alert, not both")),
            };
            let exporter = Exporter {
                chains: st
                    .chains
                    .all()
                    .iter()
                    .map(|c| ChainSource {
                        id: c.id.clone(),
                        group: c.group.clone(),
                        suite: c.suite,
                        store: c.store.clone(),
                    })
                    .collect(),
                keyring: keys.keyring.clone(),
                node_key: keys.node_key.clone(),
            };
            let pack = exporter
                .export(subject, &refs, records::time::now_ms())
                .map_err(|e| match e {
                    evidence::export::ExportError::UnknownTransaction(_)
                    | evidence::export::ExportError::UnknownChain(_) => {
                        ErrorCode::NotFound.error(e.to_string())
                    }
                    evidence::export::ExportError::Store(s) => internal(s),
                    other => bad_input(other.to_string()),
                })?;
            let bytes = pack.to_bytes().map_err(|e| match e {
                evidence::PackError::Malformed { .. } => bad_input(e.to_string()),
                other => internal(other),
            })?;
            let opened: Vec<(String, String)> = pack
                .body
                .transactions
                .iter()
                .filter(|t| t.opening.is_some())
                .filter_map(|t| {
                    t.transaction
                        .get("hash")
                        .and_then(|h| h.as_str())
                        .map(|h| (t.chain.clone(), h.to_string()))
                })
                .collect();
            let names: Vec<String> = opened
                .iter()
                .map(|(chain, hash)| {
                    let number = st
                        .chains
                        .all()
                        .iter()
                        .find(|c| &c.id == chain)
                        .map_or(0, |c| c.number);
                    st.chains.audit_name(number, hash)
                })
                .collect();
            let first = pack
                .body
                .transactions
                .first()
                .and_then(|t| t.transaction.get("hash").and_then(|h| h.as_str()))
                .unwrap_or("0x")
                .trim_start_matches("0x")
                .chars()
                .take(10)
                .collect::<String>();
            let stamp: String = pack
                .body
                .made_at
                .chars()
                .filter(char::is_ascii_digit)
                .take(14)
                .collect();
            let content = String::from_utf8(bytes).map_err(internal)?;
            Ok((
                EvidencePackFile {
                    file_name: format!("evidence-{stamp}-{first}.json"),
                    sm3: hex::encode(privacy::hash::sm3(content.as_bytes())),
                    transactions: i32::try_from(pack.body.transactions.len()).unwrap_or(i32::MAX),
                    opened: i32::try_from(opened.len()).unwrap_or(i32::MAX),
                    content,
                },
                names,
            ))
        })
        .await?;
        let (file, names) = made;
        if let Some(log) = reads {
            for n in names {
                log.read(n);
            }
        }
        Ok(file)
    }
}
