//! Relay pages: how many items a connection returns (`first`), what a page
//! costs in the query's complexity, and the over-fetch by one that tells
//! whether there is a next page.

use async_graphql::Result;
use indexer::search::MAX_PAGE;

use crate::error::bad_input;

/// Items a connection returns when `first` is not given.
pub const DEFAULT_PAGE: usize = 20;

/// A page's complexity: what one item asks for, times the items asked
/// (counted up to [`MAX_PAGE`]: a larger `first` is refused by name when
/// the field runs).
pub(crate) fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let n = first.map_or(DEFAULT_PAGE, |n| usize::try_from(n).unwrap_or(0));
    n.clamp(1, MAX_PAGE).saturating_mul(child_complexity)
}

/// `first` checked: [`DEFAULT_PAGE`] when absent, at most [`MAX_PAGE`].
pub(crate) fn page_size(first: Option<i32>) -> Result<usize> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(bad_input("first must not be negative")),
        Some(n) if n as usize > MAX_PAGE => Err(bad_input(format!("first is at most {MAX_PAGE}"))),
        Some(n) => Ok(n as usize),
    }
}

/// The first `first` of `found` (read with one more than asked for), and
/// whether there is a next page.
pub(crate) fn take_page<T>(mut found: Vec<T>, first: usize) -> (Vec<T>, bool) {
    let has_next = found.len() > first;
    found.truncate(first);
    (found, has_next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_first_items_and_says_whether_more_follow() {
        assert_eq!(take_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(take_page(vec![1, 2], 2), (vec![1, 2], false));
        assert_eq!(take_page(Vec::<u8>::new(), 0), (vec![], false));
        assert_eq!(page_size(None).ok(), Some(DEFAULT_PAGE));
        assert!(page_size(Some(-1)).is_err());
        assert!(page_size(Some(MAX_PAGE as i32 + 1)).is_err());
        assert_eq!(page_cost(Some(1_000_000), 2), MAX_PAGE * 2);
    }
}
