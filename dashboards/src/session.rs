//! Signed-in browsers: a session is a random id in an `HttpOnly`,
//! `SameSite=Strict` cookie, mapped on the server to the API token it was
//! opened with and to the session's CSRF token.
//!
//! The token is authenticated again on every request, so a revoked token
//! ends its sessions at once. Sessions live in memory: a restart signs
//! everyone out. One-time sign-in links (the demo prints one) are kept the
//! same way and work once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The session cookie's name.
pub const COOKIE: &str = "lt_session";
/// The cookie holding the sign-in form's CSRF token (before a session).
pub const LOGIN_COOKIE: &str = "lt_login";

/// How long a session lasts unused, and at most.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Idle time after which a session ends.
    pub idle: Duration,
    /// Age at which a session ends however busy.
    pub absolute: Duration,
    /// Life of a one-time sign-in link.
    pub link: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            link: Duration::from_secs(15 * 60),
        }
    }
}

struct Session {
    token: Zeroizing<String>,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// A live session as a request sees it.
#[derive(Clone)]
pub struct Live {
    /// The API token it was opened with (authenticated again per request).
    pub token: Zeroizing<String>,
    /// Its CSRF token, sent back in every form.
    pub csrf: String,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

/// The sessions and one-time links of one server.
pub struct Sessions {
    lifetimes: Lifetimes,
    sessions: Mutex<HashMap<String, Session>>,
    links: Mutex<HashMap<String, (Zeroizing<String>, Instant)>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("lifetimes", &self.lifetimes)
            .finish_non_exhaustive()
    }
}

/// 32 random bytes as hex.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    // The OS generator failing leaves no safe way to make ids: stop.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    hex::encode(b)
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    /// No sessions yet.
    pub fn new(lifetimes: Lifetimes) -> Self {
        Self {
            lifetimes,
            sessions: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
        }
    }

    /// The lifetimes.
    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// Opens a session for `token` (already authenticated); returns its id.
    pub fn open(&self, token: Zeroizing<String>) -> String {
        let id = random_id();
        let now = Instant::now();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, v| self.alive(v, now));
        s.insert(
            id.clone(),
            Session {
                token,
                csrf: random_id(),
                created: now,
                last_seen: now,
            },
        );
        id
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last_seen) < self.lifetimes.idle
            && now.duration_since(s.created) < self.lifetimes.absolute
    }

    /// The live session `id`, marked as used now.
    pub fn get(&self, id: &str) -> Option<Live> {
        let now = Instant::now();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let alive = s.get(id).is_some_and(|v| self.alive(v, now));
        if !alive {
            s.remove(id);
            return None;
        }
        let v = s.get_mut(id)?;
        v.last_seen = now;
        Some(Live {
            token: v.token.clone(),
            csrf: v.csrf.clone(),
        })
    }

    /// Ends session `id`.
    pub fn close(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// A one-time sign-in code for `token`, valid for the link lifetime.
    pub fn link(&self, token: Zeroizing<String>) -> String {
        let code = random_id();
        let now = Instant::now();
        let mut l = self.links.lock().unwrap_or_else(|p| p.into_inner());
        l.retain(|_, (_, at)| now.duration_since(*at) < self.lifetimes.link);
        l.insert(code.clone(), (token, now));
        code
    }

    /// The token of one-time code `code`, which is used up.
    pub fn redeem(&self, code: &str) -> Option<Zeroizing<String>> {
        let (token, at) = self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(code)?;
        (at.elapsed() < self.lifetimes.link).then_some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_closed_and_links_work_once() {
        let s = Sessions::new(Lifetimes {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(3600),
            link: Duration::from_secs(60),
        });
        let id = s.open(Zeroizing::new("lt_a.b".into()));
        let live = s.get(&id).expect("open session");
        assert_eq!(live.token.as_str(), "lt_a.b");
        assert_eq!(live.csrf.len(), 64);
        assert!(s.get("not a session").is_none());
        s.close(&id);
        assert!(s.get(&id).is_none());

        let code = s.link(Zeroizing::new("lt_c.d".into()));
        assert_eq!(
            s.redeem(&code).as_deref().map(String::as_str),
            Some("lt_c.d")
        );
        assert!(s.redeem(&code).is_none(), "a link works once");

        let expired = Sessions::new(Lifetimes {
            idle: Duration::ZERO,
            absolute: Duration::from_secs(3600),
            link: Duration::ZERO,
        });
        let id = expired.open(Zeroizing::new("t".into()));
        assert!(expired.get(&id).is_none(), "idle past its limit");
        let code = expired.link(Zeroizing::new("t".into()));
        assert!(expired.redeem(&code).is_none(), "link past its life");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }
}
