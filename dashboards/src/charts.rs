//! Charts drawn as SVG on the server: no script, readable by screen readers
//! (a title, and each bar's value in its own `<title>`), and the same
//! numbers in a table beside each chart for those who prefer one.

use maud::{Markup, html};

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Its label (a day, a rule).
    pub label: String,
    /// Its value.
    pub value: f64,
}

const WIDTH: f64 = 640.0;

/// Vertical bars, left to right (a time series). `id` names the chart for
/// `aria-labelledby`.
pub fn columns(id: &str, title: &str, bars: &[Bar]) -> Markup {
    let height = 200.0;
    let top = 10.0;
    let bottom = 30.0;
    let left = 48.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (height - top - bottom) / max
    } else {
        0.0
    };
    let n = bars.len().max(1) as f64;
    let slot = (WIDTH - left) / n;
    let bar_w = (slot * 0.8).max(1.0);
    // At most ~8 labels along the axis.
    let every = (bars.len() / 8).max(1);
    html! {
        svg.chart id=(id) role="img" aria-labelledby={ (id) "-title" } viewBox={ "0 0 " (WIDTH) " " (height) } xmlns="http://www.w3.org/2000/svg" {
            title id={ (id) "-title" } { (title) }
            line x1=(left) y1=(height - bottom) x2=(WIDTH) y2=(height - bottom) stroke="#5f6b7a" {}
            text x=(left - 4.0) y=(top + 4.0) text-anchor="end" font-size="11" fill="#33404f" { (short(max)) }
            text x=(left - 4.0) y=(height - bottom) text-anchor="end" font-size="11" fill="#33404f" { "0" }
            @for (i, b) in bars.iter().enumerate() {
                @let h = b.value * scale;
                @let x = left + i as f64 * slot + (slot - bar_w) / 2.0;
                rect.bar x=(fmt(x)) y=(fmt(height - bottom - h)) width=(fmt(bar_w)) height=(fmt(h)) fill="#1f6fb2" {
                    title { (b.label) ": " (short(b.value)) }
                }
                @if i % every == 0 {
                    text x=(fmt(x + bar_w / 2.0)) y=(height - bottom + 16.0) text-anchor="middle" font-size="11" fill="#33404f" { (b.label) }
                }
            }
        }
    }
}

/// Horizontal bars, largest first as given (rules, severities).
pub fn rows(id: &str, title: &str, bars: &[Bar]) -> Markup {
    let row = 24.0;
    let label_w = 200.0;
    let height = (bars.len().max(1) as f64) * row + 8.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (WIDTH - label_w - 60.0) / max
    } else {
        0.0
    };
    html! {
        svg.chart id=(id) role="img" aria-labelledby={ (id) "-title" } viewBox={ "0 0 " (WIDTH) " " (fmt(height)) } xmlns="http://www.w3.org/2000/svg" {
            title id={ (id) "-title" } { (title) }
            @for (i, b) in bars.iter().enumerate() {
                @let y = 4.0 + i as f64 * row;
                text x=(label_w - 6.0) y=(fmt(y + 16.0)) text-anchor="end" font-size="12" fill="#1b2530" { (clip(&b.label, 30)) }
                rect.bar x=(label_w) y=(fmt(y + 3.0)) width=(fmt((b.value * scale).max(1.0))) height="17" fill="#b5452b" {
                    title { (b.label) ": " (short(b.value)) }
                }
                text x=(fmt(label_w + b.value * scale + 6.0)) y=(fmt(y + 16.0)) font-size="12" fill="#1b2530" { (short(b.value)) }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// 1234 → "1,234"; 1.5 → "1.5".
pub fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        group(v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Thousands separators.
pub fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let bars = vec![
            Bar {
                label: "<b>".into(),
                value: 10.0,
            },
            Bar {
                label: "b".into(),
                value: 5.0,
            },
        ];
        let svg = columns("c", "t", &bars).into_string();
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
        // The largest bar spans the plot (200 - 10 - 30 = 160), the other half.
        assert!(
            svg.contains(r#"height="160.0""#) && svg.contains(r#"height="80.0""#),
            "{svg}"
        );
        let svg = rows("r", "t", &bars).into_string();
        assert_eq!(svg.matches("<rect").count(), 2);
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(-1_000), "-1,000");
        assert_eq!(short(2.5), "2.50");
    }
}
