//! Alerts, rules and silences in the API.
//!
//! Every role reads alerts' metadata (rule, severity, state, counts, the
//! transaction hashes, history). An alert's group key and the values that
//! fired it come from decrypted fields, so they are for the roles that read
//! plaintext, and each read is audited as a read of the transaction the
//! values came from. Analysts and admins work alerts and silences; admins
//! save and disable rules.

use std::collections::BTreeMap;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, Subscription};
use policies::alert::{Alert, AlertState, Silence};
use policies::manage::{self, Action, ManageError};
use policies::rule::Severity;

use crate::auth::Role;
use crate::context::{blocking, caller, read_log, require, state};
use crate::error::{bad_input, internal};
use crate::paging::{page_size, take_page};
use records::time::format_ms;

/// Lifecycle states.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "AlertState")]
pub enum AlertStateGql {
    /// New.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Dealt with.
    Resolved,
    /// Not a problem.
    Dismissed,
}

impl From<AlertState> for AlertStateGql {
    fn from(s: AlertState) -> Self {
        match s {
            AlertState::Open => Self::Open,
            AlertState::Acknowledged => Self::Acknowledged,
            AlertState::Resolved => Self::Resolved,
            AlertState::Dismissed => Self::Dismissed,
        }
    }
}

/// Severities.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Severity")]
pub enum SeverityGql {
    /// For information.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl From<Severity> for SeverityGql {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => Self::Info,
            Severity::Low => Self::Low,
            Severity::Medium => Self::Medium,
            Severity::High => Self::High,
            Severity::Critical => Self::Critical,
        }
    }
}

/// Which alerts.
#[derive(InputObject, Debug, Clone, Default)]
pub struct AlertFilter {
    /// In these states.
    pub states: Option<Vec<AlertStateGql>>,
    /// Of these rules.
    pub rules: Option<Vec<String>>,
    /// Of these severities.
    pub severities: Option<Vec<SeverityGql>>,
    /// Assigned to this person.
    pub assignee: Option<String>,
    /// Listing this transaction.
    pub transaction: Option<String>,
    /// Fired on these chains (ids): the chain of the transaction or
    /// finding that fired it; an alert made before there were several
    /// chains is the first chain's.
    pub chains: Option<Vec<String>>,
}

impl AlertFilter {
    /// Whether `a` passes the filter; `first_chain` is the id of the
    /// chain an alert naming none fired on.
    fn matches(&self, a: &Alert, first_chain: &str) -> bool {
        self.chains.as_ref().is_none_or(|cs| {
            let on = a.values.get("chain").map_or(first_chain, String::as_str);
            cs.iter().any(|c| c == on)
        }) && self
            .states
            .as_ref()
            .is_none_or(|s| s.contains(&a.state.into()))
            && self.rules.as_ref().is_none_or(|r| r.contains(&a.rule))
            && self
                .severities
                .as_ref()
                .is_none_or(|s| s.contains(&a.severity.into()))
            && self
                .assignee
                .as_ref()
                .is_none_or(|x| a.assignee.as_ref() == Some(x))
            && self.transaction.as_ref().is_none_or(|t| {
                let t = t.to_lowercase();
                a.transactions.contains(&t)
            })
    }
}

/// A name and a value.
#[derive(SimpleObject, Debug, Clone)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

fn pairs(m: &BTreeMap<String, String>) -> Vec<KeyValue> {
    m.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// One entry of an alert's history.
#[derive(SimpleObject, Debug, Clone)]
pub struct AlertEvent {
    /// When (RFC 3339, Beijing time).
    pub at: String,
    /// Who (`policies` for the engine).
    pub actor: String,
    /// What: opened, matched, acknowledged, assigned, unassigned, noted,
    /// resolved, dismissed, reopened, silenced.
    pub action: String,
    /// The note, assignee or count.
    pub detail: String,
}

/// A notification of an alert and its delivery.
#[derive(SimpleObject, Debug, Clone)]
pub struct AlertDelivery {
    /// The channel.
    pub channel: String,
    /// Its idempotency id.
    pub message_id: String,
    /// queued, delivered, failed (will retry) or dead (given up).
    pub status: String,
    /// Attempts so far.
    pub attempt: u32,
    /// When its state last changed.
    pub at: String,
    /// The receiver's answer or the error.
    pub detail: String,
}

/// An alert.
pub struct AlertNode(pub Alert);

#[Object(name = "Alert")]
impl AlertNode {
    /// Id.
    async fn id(&self) -> u64 {
        self.0.id
    }
    /// The rule that raised it.
    async fn rule(&self) -> &str {
        &self.0.rule
    }
    /// The rule's version when it opened.
    async fn rule_version(&self) -> u32 {
        self.0.rule_version
    }
    /// The rule's title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Severity.
    async fn severity(&self) -> SeverityGql {
        self.0.severity.into()
    }
    /// Lifecycle state.
    async fn state(&self) -> AlertStateGql {
        self.0.state.into()
    }
    /// The silence that muted its notifications.
    async fn silenced_by(&self) -> Option<u64> {
        self.0.silenced_by
    }
    /// Opened.
    async fn created_at(&self) -> String {
        format_ms(self.0.created_ms)
    }
    /// Last changed.
    async fn updated_at(&self) -> String {
        format_ms(self.0.updated_ms)
    }
    /// Block time of the first match.
    async fn first_seen(&self) -> String {
        format_ms(self.0.first_seen_ms)
    }
    /// Block time of the last match.
    async fn last_seen(&self) -> String {
        format_ms(self.0.last_seen_ms)
    }
    /// Height of the last match.
    async fn height(&self) -> i64 {
        self.0.last_height
    }
    /// Transactions matched in all.
    async fn transaction_count(&self) -> u64 {
        self.0.count()
    }
    /// The matched transactions' hashes, in chain order (the first 1,000).
    async fn transactions(&self) -> &[String] {
        &self.0.transactions
    }
    /// The rule's labels.
    async fn labels(&self) -> Vec<KeyValue> {
        pairs(&self.0.labels)
    }
    /// Who is on it.
    async fn assignee(&self) -> Option<&str> {
        self.0.assignee.as_deref()
    }
    /// History, oldest first.
    async fn history(&self) -> Vec<AlertEvent> {
        self.0
            .history
            .iter()
            .map(|h| AlertEvent {
                at: format_ms(h.at_ms),
                actor: h.actor.clone(),
                action: h.action.clone(),
                detail: h.detail.clone(),
            })
            .collect()
    }
    /// Its notifications and their delivery.
    async fn deliveries(&self) -> Vec<AlertDelivery> {
        self.0
            .deliveries
            .iter()
            .map(|d| AlertDelivery {
                channel: d.channel.clone(),
                message_id: d.message_id.clone(),
                status: d.status.clone(),
                attempt: d.attempt,
                at: format_ms(d.at_ms),
                detail: d.detail.clone(),
            })
            .collect()
    }
    /// The key its matches are grouped by (often a party: decrypted data,
    /// for analysts and admins; audited).
    async fn group_key(&self, ctx: &Context<'_>) -> Result<&str> {
        self.plaintext(ctx, "alert group keys")?;
        Ok(&self.0.group_key)
    }
    /// Why it fired: the figures and the fields of the last match
    /// (decrypted data, for analysts and admins; audited).
    async fn values(&self, ctx: &Context<'_>) -> Result<Vec<KeyValue>> {
        self.plaintext(ctx, "alert values")?;
        Ok(pairs(&self.0.values))
    }
}

impl AlertNode {
    fn plaintext(&self, ctx: &Context<'_>, what: &str) -> Result<()> {
        require(ctx, Role::reads_plaintext, what)?;
        match read_log(ctx) {
            Some(log) => {
                if let Some(tx) = self.0.values.get("tx") {
                    log.read(tx.clone());
                } else if let Some(tx) = self.0.transactions.last() {
                    log.read(tx.clone());
                }
                Ok(())
            }
            None => Err(crate::error::ErrorCode::Forbidden.error(
                "decrypted alert fields are not sent on subscriptions; fetch them with the alert query, where each read is audited",
            )),
        }
    }
}

/// A silence.
pub struct SilenceNode(pub Silence);

#[Object(name = "Silence")]
impl SilenceNode {
    /// Id.
    async fn id(&self) -> u64 {
        self.0.id
    }
    /// The rule it mutes.
    async fn rule(&self) -> &str {
        &self.0.rule
    }
    /// Only this group key, if set (decrypted data: analysts and admins).
    async fn group_key(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        require(ctx, Role::reads_plaintext, "silence group keys")?;
        Ok(self.0.group_key.as_deref())
    }
    /// From.
    async fn starts_at(&self) -> String {
        format_ms(self.0.starts_ms)
    }
    /// Until.
    async fn ends_at(&self) -> String {
        format_ms(self.0.ends_ms)
    }
    /// Whether it mutes now.
    async fn active(&self) -> bool {
        let now = records::time::now_ms();
        (self.0.starts_ms..self.0.ends_ms).contains(&now)
    }
    /// Who made it.
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    /// Why.
    async fn comment(&self) -> &str {
        &self.0.comment
    }
}

/// A rule in force, as stored.
#[derive(SimpleObject, Debug, Clone)]
pub struct RuleInfo {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Severity.
    pub severity: SeverityGql,
    /// Whether it runs.
    pub enabled: bool,
    /// Its latest version.
    pub version: u32,
    /// Where that version came from: file, built-in or api.
    pub source: String,
    /// Its TOML text.
    pub text: String,
    /// Channels it notifies.
    pub notify: Vec<String>,
    /// Transactions it has matched.
    pub hits: u64,
    /// Alerts it has opened.
    pub alerts: u64,
}

/// A stored version of a rule.
#[derive(SimpleObject, Debug, Clone)]
pub struct RuleVersionInfo {
    /// Version.
    pub version: u32,
    /// file, built-in or api.
    pub source: String,
    /// Who saved it.
    pub author: String,
    /// When.
    pub at: String,
    /// Its TOML text.
    pub text: String,
}

impl From<policies::family::RuleVersion> for RuleVersionInfo {
    fn from(v: policies::family::RuleVersion) -> Self {
        Self {
            version: v.version,
            source: v.source,
            author: v.author,
            at: format_ms(v.at_ms),
            text: v.text,
        }
    }
}

/// A page of alerts, newest first.
pub type AlertConnection = Connection<String, AlertNode, AlertScan, EmptyFields>;

/// Most alerts one `alerts` request examines. A selective filter over a
/// long history could otherwise read every alert ever opened to fill one
/// page; past this bound the page comes back short, with `hasNextPage` and
/// `resumeAfter` saying where to go on.
pub const MAX_ALERT_SCAN: usize = 10_000;

/// Alerts read from the store at a time while filling a page.
const SCAN_CHUNK: usize = 512;

/// How far an `alerts` request looked.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct AlertScan {
    /// The cursor to pass as `after` for the next page, when there is one:
    /// the last edge's cursor when the page is full, or the last alert
    /// examined when the request stopped at its scan bound (10,000 alerts)
    /// before the filter filled the page. Null at the end.
    pub resume_after: Option<String>,
    /// Alerts this request examined.
    pub scanned: u64,
}

fn manage_error(e: ManageError) -> async_graphql::Error {
    use crate::error::ErrorCode;
    let code = match &e {
        ManageError::NotFound(_) => ErrorCode::NotFound,
        ManageError::Conflict(_) => ErrorCode::Conflict,
        ManageError::Invalid(_) | ManageError::Rule(_) => ErrorCode::BadUserInput,
        ManageError::Engine(_) => return internal(e),
    };
    code.error(e.to_string())
}

fn works_alerts(r: Role) -> bool {
    matches!(r, Role::Admin | Role::Analyst)
}

/// Alert queries.
#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// Alerts, newest first. `after` is a cursor of this connection.
    #[graphql(complexity = "crate::paging::page_cost(first, child_complexity)")]
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        filter: Option<AlertFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AlertConnection> {
        let st = state(ctx)?.clone();
        let first = page_size(first)?;
        let filter = filter.unwrap_or_default();
        for id in filter.chains.iter().flatten() {
            st.chains.named(Some(id))?;
        }
        let first_chain = st.chains.first()?.id.clone();
        let below: Option<u64> = match after.as_deref() {
            None => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| bad_input(format!("invalid cursor {c:?}: not an alert cursor")))?,
            ),
        };
        blocking(move || {
            let mut found = Vec::new();
            let mut from = match below {
                Some(0) => {
                    return Ok(Connection::with_additional_fields(
                        true,
                        false,
                        AlertScan::default(),
                    ));
                }
                Some(id) => Some(id - 1),
                None => None,
            };
            let mut scanned = 0usize;
            // The last alert examined, when the scan stopped at its bound
            // with older alerts left.
            let mut stopped_at = None;
            'scan: loop {
                let chunk = policies::family::alerts_from(&st.store, from, true, SCAN_CHUNK)
                    .map_err(internal)?;
                let Some(last_id) = chunk.last().map(|a| a.id) else {
                    break;
                };
                let full = chunk.len() == SCAN_CHUNK;
                for a in chunk {
                    scanned += 1;
                    let id = a.id;
                    if filter.matches(&a, &first_chain) {
                        found.push(a);
                        if found.len() > first {
                            break 'scan;
                        }
                    }
                    if scanned >= MAX_ALERT_SCAN && id > 0 {
                        stopped_at = Some(id);
                        break 'scan;
                    }
                }
                if last_id == 0 || !full {
                    break;
                }
                from = Some(last_id - 1);
            }
            let (found, has_next) = take_page(found, first);
            let has_next = has_next || stopped_at.is_some();
            let resume_after = match stopped_at {
                Some(id) if found.len() < first => Some(id),
                _ if has_next => found.last().map(|a| a.id),
                _ => None,
            };
            let mut conn = Connection::with_additional_fields(
                below.is_some(),
                has_next,
                AlertScan {
                    resume_after: resume_after.map(|id| id.to_string()),
                    scanned: scanned as u64,
                },
            );
            conn.edges.extend(
                found
                    .into_iter()
                    .map(|a| async_graphql::connection::Edge::new(a.id.to_string(), AlertNode(a))),
            );
            Ok(conn)
        })
        .await
    }

    /// One alert.
    async fn alert(&self, ctx: &Context<'_>, id: u64) -> Result<Option<AlertNode>> {
        let st = state(ctx)?.clone();
        blocking(move || {
            Ok(policies::family::alert(&st.store, id)
                .map_err(internal)?
                .map(AlertNode))
        })
        .await
    }

    /// The rules in force (the latest version of each).
    async fn rules(&self, ctx: &Context<'_>) -> Result<Vec<RuleInfo>> {
        let st = state(ctx)?.clone();
        blocking(move || {
            let latest = policies::family::latest_rules(&st.store).map_err(internal)?;
            let mut out = Vec::new();
            for (id, v) in latest {
                let Ok(r) =
                    policies::rule::parse_one(std::path::Path::new("(stored)"), &v.text, None)
                else {
                    continue;
                };
                out.push(RuleInfo {
                    hits: policies::family::hits(&st.store, &id).map_err(internal)?,
                    alerts: policies::family::alerts_opened(&st.store, &id).map_err(internal)?,
                    id,
                    title: r.spec.title,
                    description: r.spec.description,
                    severity: r.spec.severity.into(),
                    enabled: r.spec.enabled,
                    version: v.version,
                    source: v.source,
                    text: v.text,
                    notify: r.spec.notify,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Every version of a rule, oldest first.
    async fn rule_versions(&self, ctx: &Context<'_>, id: String) -> Result<Vec<RuleVersionInfo>> {
        let st = state(ctx)?.clone();
        blocking(move || {
            Ok(policies::family::rule_versions(&st.store, &id)
                .map_err(internal)?
                .into_iter()
                .map(RuleVersionInfo::from)
                .collect())
        })
        .await
    }

    /// Silences, newest first.
    async fn silences(&self, ctx: &Context<'_>) -> Result<Vec<SilenceNode>> {
        let st = state(ctx)?.clone();
        blocking(move || {
            Ok(manage::silences(&st.store)
                .map_err(manage_error)?
                .into_iter()
                .map(SilenceNode)
                .collect())
        })
        .await
    }
}

/// Alert mutations.
#[derive(Default)]
pub struct AlertMutation;

async fn lifecycle(
    ctx: &Context<'_>,
    id: u64,
    action: Action,
    note: Option<String>,
) -> Result<AlertNode> {
    let who = require(ctx, works_alerts, "alert actions")?.name.clone();
    let st = state(ctx)?.clone();
    blocking(move || {
        manage::act(&st.store, id, action, &who, note.as_deref())
            .map(AlertNode)
            .map_err(manage_error)
    })
    .await
}

#[Object]
impl AlertMutation {
    /// open → acknowledged (analyst, admin).
    async fn acknowledge_alert(
        &self,
        ctx: &Context<'_>,
        id: u64,
        note: Option<String>,
    ) -> Result<AlertNode> {
        lifecycle(ctx, id, Action::Acknowledge, note).await
    }
    /// → resolved (analyst, admin).
    async fn resolve_alert(
        &self,
        ctx: &Context<'_>,
        id: u64,
        note: Option<String>,
    ) -> Result<AlertNode> {
        lifecycle(ctx, id, Action::Resolve, note).await
    }
    /// → dismissed: not a problem (analyst, admin).
    async fn dismiss_alert(
        &self,
        ctx: &Context<'_>,
        id: u64,
        note: Option<String>,
    ) -> Result<AlertNode> {
        lifecycle(ctx, id, Action::Dismiss, note).await
    }
    /// resolved or dismissed → open (analyst, admin).
    async fn reopen_alert(
        &self,
        ctx: &Context<'_>,
        id: u64,
        note: Option<String>,
    ) -> Result<AlertNode> {
        lifecycle(ctx, id, Action::Reopen, note).await
    }
    /// Adds a note (analyst, admin).
    async fn note_alert(&self, ctx: &Context<'_>, id: u64, note: String) -> Result<AlertNode> {
        lifecycle(ctx, id, Action::Note, Some(note)).await
    }
    /// Assigns an alert (no assignee: unassigns) (analyst, admin).
    async fn assign_alert(
        &self,
        ctx: &Context<'_>,
        id: u64,
        assignee: Option<String>,
    ) -> Result<AlertNode> {
        let who = require(ctx, works_alerts, "alert actions")?.name.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            manage::assign(&st.store, id, assignee.as_deref(), &who)
                .map(AlertNode)
                .map_err(manage_error)
        })
        .await
    }
    /// Mutes a rule's notifications (or one group key's) for some minutes;
    /// alerts still open, marked silenced (analyst, admin).
    async fn create_silence(
        &self,
        ctx: &Context<'_>,
        rule: String,
        group_key: Option<String>,
        minutes: u32,
        comment: String,
    ) -> Result<SilenceNode> {
        let who = require(ctx, works_alerts, "silences")?.name.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            manage::silence(
                &st.store,
                &rule,
                group_key.as_deref(),
                minutes,
                &who,
                &comment,
            )
            .map(SilenceNode)
            .map_err(manage_error)
        })
        .await
    }
    /// Ends a silence now (analyst, admin).
    async fn expire_silence(&self, ctx: &Context<'_>, id: u64) -> Result<SilenceNode> {
        require(ctx, works_alerts, "silences")?;
        let st = state(ctx)?.clone();
        blocking(move || {
            manage::expire_silence(&st.store, id)
                .map(SilenceNode)
                .map_err(manage_error)
        })
        .await
    }
    /// Saves a rule (one `[[rule]]` in TOML) as its next version; it runs
    /// from the next block (admin).
    async fn save_rule(&self, ctx: &Context<'_>, text: String) -> Result<RuleVersionInfo> {
        let who = require(ctx, Role::administers, "rules")?.name.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            manage::save_rule(&st.store, &text, &who)
                .map(RuleVersionInfo::from)
                .map_err(manage_error)
        })
        .await
    }
    /// Enables or disables a rule, as a new version (admin).
    async fn set_rule_enabled(
        &self,
        ctx: &Context<'_>,
        id: String,
        enabled: bool,
    ) -> Result<RuleVersionInfo> {
        let who = require(ctx, Role::administers, "rules")?.name.clone();
        let st = state(ctx)?.clone();
        blocking(move || {
            manage::set_enabled(&st.store, &id, enabled, &who)
                .map(RuleVersionInfo::from)
                .map_err(manage_error)
        })
        .await
    }
    /// Moves a channel's dead letters back to its outbox (admin); returns
    /// how many.
    async fn replay_dead_letters(&self, ctx: &Context<'_>, channel: String) -> Result<u64> {
        require(ctx, Role::administers, "dead letters")?;
        let st = state(ctx)?.clone();
        blocking(move || {
            policies::deliver::replay_dead_letters(&st.store, &channel)
                .map(|n| n as u64)
                .map_err(internal)
        })
        .await
    }
}

/// Alert subscriptions.
#[derive(Default)]
pub struct AlertSubscription;

#[Subscription]
impl AlertSubscription {
    /// Alerts as they open (ids above `afterId`; from now on when not
    /// given), matching `filter`. No decrypted fields are sent on
    /// subscriptions; fetch them with `alert(id)`.
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        filter: Option<AlertFilter>,
        after_id: Option<u64>,
    ) -> Result<impl Stream<Item = AlertNode> + use<>> {
        caller(ctx)?;
        let st = state(ctx)?.clone();
        let filter = filter.unwrap_or_default();
        for id in filter.chains.iter().flatten() {
            st.chains.named(Some(id))?;
        }
        let start = match after_id {
            Some(id) => id,
            None => {
                let st = st.clone();
                blocking(move || {
                    policies::family::alerts_from(&st.store, None, true, 1).map_err(internal)
                })
                .await?
                .first()
                .map_or(0, |a| a.id)
            }
        };
        Ok(alert_stream(st, filter, start))
    }
}

/// The stream of alerts above `after`, waking on each policy write.
fn alert_stream(
    st: std::sync::Arc<crate::ApiState>,
    filter: AlertFilter,
    after: u64,
) -> impl Stream<Item = AlertNode> {
    struct Follow {
        st: std::sync::Arc<crate::ApiState>,
        filter: AlertFilter,
        after: u64,
        pending: std::collections::VecDeque<Alert>,
        feed: tokio::sync::watch::Receiver<u64>,
        first_chain: String,
    }
    let feed = st.store.subscribe_family(policies::family::ALERTS);
    let first_chain = st.chains.first().map(|c| c.id.clone()).unwrap_or_default();
    let follow = Follow {
        st,
        filter,
        after,
        pending: std::collections::VecDeque::new(),
        feed,
        first_chain,
    };
    stream::unfold(follow, |mut f| async move {
        loop {
            if let Some(a) = f.pending.pop_front() {
                return Some((AlertNode(a), f));
            }
            f.feed.borrow_and_update();
            let from = f.after + 1;
            let store = f.st.store.clone();
            let chunk = tokio::task::spawn_blocking(move || {
                policies::family::alerts_from(&store, Some(from), false, 256)
            })
            .await
            .ok()?
            .ok()?;
            let got = chunk.len();
            for a in chunk {
                f.after = f.after.max(a.id);
                if f.filter.matches(&a, &f.first_chain) {
                    f.pending.push_back(a);
                }
            }
            if got == 0 {
                // Wake on the next write to the alerts.
                if f.feed.changed().await.is_err() {
                    return None;
                }
            }
        }
    })
}
