//! The policy engine's records, kept in the store beside the chain log in
//! families this crate declares: its checkpoint and window state, alerts,
//! the outbox of notifications, dead letters, rule versions and silences.
//! The store keeps their bytes and writes each batch atomically and synced;
//! this crate gives them meaning.
//!
//! | family | key | value |
//! |---|---|---|
//! | `policy_state` | name | checkpoint, window state, sequences |
//! | `alerts` | BE64 alert id | alert record |
//! | `alert_keys` | rule ‖ 0x00 ‖ group key | BE64 id of the rule's live alert for the key |
//! | `outbox` | channel ‖ 0x00 ‖ BE64 sequence | notification still to deliver |
//! | `dead_letters` | channel ‖ 0x00 ‖ BE64 sequence | notification given up on |
//! | `rule_versions` | rule id ‖ 0x00 ‖ BE32 version | rule text |
//! | `silences` | BE64 silence id | silence record |
//!
//! Every read-modify-write of these records holds [`lock`] (the engine per
//! block, senders per delivery, lifecycle changes), so none overwrites
//! another's change.

use store::{Family, Store, WriteLock};

/// Checkpoint, window state, sequences.
pub const STATE: Family = Family::new("policy_state");
/// Alerts by id.
pub const ALERTS: Family = Family::new("alerts");
/// The live alert of each (rule, group key).
pub const ALERT_KEYS: Family = Family::new("alert_keys");
/// Notifications to deliver, per channel in order.
pub const OUTBOX: Family = Family::new("outbox");
/// Notifications given up on, per channel.
pub const DEAD_LETTERS: Family = Family::new("dead_letters");
/// Every version of every rule.
pub const RULE_VERSIONS: Family = Family::new("rule_versions");
/// Silences.
pub const SILENCES: Family = Family::new("silences");

/// The lock of the policy records (one for all of them).
pub fn lock(store: &Store) -> WriteLock {
    store.write_lock(STATE)
}
