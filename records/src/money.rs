//! Amounts of money, exactly: [`Money`] is a whole number of hundredths of
//! a currency unit (分 for CNY), parsed from payload decimals without
//! floating point and printed one way everywhere (`-0.50`, `-1.50`,
//! `1234.00`).

use std::fmt;

/// An amount in hundredths of a currency unit. Arithmetic is checked: a
/// sum that would overflow is `None`, never a wrapped or saturated value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// The amount of `hundredths` hundredths.
    pub const fn from_hundredths(hundredths: i64) -> Self {
        Self(hundredths)
    }

    /// The amount in hundredths.
    pub const fn hundredths(self) -> i64 {
        self.0
    }

    /// The amount in units, as a float: for comparisons in rule conditions
    /// and thresholds, never for sums.
    pub fn units_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// A decimal amount, exactly: `49870.5` is 4987050 hundredths. `None`
    /// for anything else: more than two non-zero decimals, exponents, a
    /// sign other than a leading `-`, an empty whole part, overflow.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (kept, rest) = fraction.split_at(fraction.len().min(2));
        if rest.bytes().any(|b| b != b'0') {
            return None;
        }
        let mut cents: i64 = whole.parse::<i64>().ok()?.checked_mul(100)?;
        let mut f: i64 = if kept.is_empty() {
            0
        } else {
            kept.parse().ok()?
        };
        if kept.len() == 1 {
            f *= 10;
        }
        cents = cents.checked_add(f)?;
        Some(Self(if negative { -cents } else { cents }))
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Money>) -> Option<Money> {
        amounts
            .into_iter()
            .try_fold(Money::ZERO, |sum, m| sum.checked_add(m))
    }
}

impl fmt::Display for Money {
    /// Units, a point and two digits, with a `-` before negative amounts
    /// (`-0.50`, not `0.50`; `-1.50`, not `-1.-50`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly() {
        let h = |s: &str| Money::parse(s).map(Money::hundredths);
        assert_eq!(h("49870.00"), Some(4_987_000));
        assert_eq!(h("49870.5"), Some(4_987_050));
        assert_eq!(h("12"), Some(1_200));
        assert_eq!(h("0.010"), Some(1));
        assert_eq!(h("-3.25"), Some(-325));
        assert_eq!(h(" 7.1 "), Some(710));
        for bad in [
            "",
            "-",
            ".5",
            "1.005",
            "1e5",
            "abc",
            "1.2.3",
            "+1",
            "--1",
            "1.-5",
            "99999999999999999999",
            "92233720368547758.08",
        ] {
            assert_eq!(h(bad), None, "{bad}");
        }
    }

    #[test]
    fn negative_and_sub_unit_amounts_print_with_their_sign() {
        let p = |h: i64| Money::from_hundredths(h).to_string();
        assert_eq!(p(-50), "-0.50");
        assert_eq!(p(-150), "-1.50");
        assert_eq!(p(-1), "-0.01");
        assert_eq!(p(5), "0.05");
        assert_eq!(p(0), "0.00");
        assert_eq!(p(123_400), "1234.00");
        assert_eq!(p(i64::MIN), "-92233720368547758.08");
        assert_eq!(p(i64::MAX), "92233720368547758.07");
    }

    #[test]
    fn printing_and_parsing_agree() {
        for h in [
            -100_001,
            -50,
            -1,
            0,
            1,
            99,
            100,
            4_987_050,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let m = Money::from_hundredths(h);
            assert_eq!(Money::parse(&m.to_string()), Some(m), "{m}");
        }
    }

    #[test]
    fn sums_are_checked() {
        let m = Money::from_hundredths;
        assert_eq!(Money::checked_sum([m(150), m(-50), m(1)]), Some(m(101)));
        assert_eq!(Money::checked_sum([m(i64::MAX), m(1)]), None);
        assert_eq!(Money::checked_sum([m(i64::MIN), m(-1)]), None);
        assert_eq!(Money::checked_sum([]), Some(Money::ZERO));
    }
}
