//! Legends for continuous values: class breaks, their French labels and colour ramps (OKLab).

/// Quantile breaks splitting `values` into (at most) `n` classes of similar size: ascending thresholds, class `i`
/// holding the values `v` with `breaks[i - 1] <= v < breaks[i]` (see [`class_of`]). NaN values are ignored; equal
/// thresholds are avoided (a class then starts at the next distinct value), so fewer than `n - 1` breaks may come back
/// when many values are equal.
pub fn classes(values: &[f64], n: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut breaks: Vec<f64> = Vec::new();
    if sorted.is_empty() || n < 2 {
        return breaks;
    }
    for k in 1..n {
        let mut value = sorted[(k * sorted.len() / n).min(sorted.len() - 1)];
        let floor = breaks.last().copied().unwrap_or(sorted[0]);
        if value <= floor {
            // Many equal values: the class starts at the next distinct value, if any.
            let next = sorted.partition_point(|&v| v <= floor);
            let Some(&distinct) = sorted.get(next) else { break };
            value = distinct;
        }
        breaks.push(value);
    }
    breaks
}

/// `n - 1` equally spaced breaks between `min` and `max` (fixed-width classes).
pub fn equal_breaks(min: f64, max: f64, n: usize) -> Vec<f64> {
    (1..n.max(1)).map(|k| min + (max - min) * k as f64 / n as f64).collect()
}

/// Class index of `value` for ascending `breaks`: the number of breaks at or below it.
pub fn class_of(value: f64, breaks: &[f64]) -> usize {
    breaks.partition_point(|&b| b <= value)
}

/// French legend labels for the `breaks.len() + 1` classes: "Moins de 10 %", "De 10 à moins de 20 %", "20 % ou plus"
/// (`decimals` digits, decimal comma, narrow no-break spaces as thousands separator and before the unit).
pub fn break_labels(breaks: &[f64], decimals: usize, unit: &str) -> Vec<String> {
    let number = |v: f64| {
        let text = format_fr(v, decimals);
        if unit.is_empty() { text } else { format!("{text}\u{202f}{unit}") }
    };
    if breaks.is_empty() {
        return vec!["Toutes les valeurs".into()];
    }
    let mut labels = Vec::with_capacity(breaks.len() + 1);
    labels.push(format!("Moins de {}", number(breaks[0])));
    for pair in breaks.windows(2) {
        labels.push(format!("De {} à moins de {}", format_fr(pair[0], decimals), number(pair[1])));
    }
    labels.push(format!("{} ou plus", number(breaks[breaks.len() - 1])));
    labels
}

/// A number the French way: `1234.5` → "1 234,5" (narrow no-break space between thousands).
pub fn format_fr(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => ("-", rest),
        Some(rest) => ("", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push(',');
        out.push_str(frac);
    }
    out
}

/// `n` colours from `from` to `to` (`#rrggbb` or `#rgb`), interpolated in the OKLab perceptual space. Invalid
/// colours count as mid grey.
pub fn ramp(n: usize, from: &str, to: &str) -> Vec<String> {
    let (a, b) = (oklab(parse_colour(from)), oklab(parse_colour(to)));
    (0..n)
        .map(|i| {
            let t = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 };
            let lab = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
            let [r, g, b] = from_oklab(lab);
            format!("#{r:02x}{g:02x}{b:02x}")
        })
        .collect()
}

pub(super) fn parse_colour(text: &str) -> [u8; 3] {
    let hex = text.trim().trim_start_matches('#');
    let digit = |i: usize| u8::from_str_radix(hex.get(i..i + 1)?, 16).ok();
    let parsed = match hex.len() {
        3 => (|| Some([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17]))(),
        6 => (|| Some([digit(0)? * 16 + digit(1)?, digit(2)? * 16 + digit(3)?, digit(4)? * 16 + digit(5)?]))(),
        _ => None,
    };
    parsed.unwrap_or([128, 128, 128])
}

pub(super) fn oklab([r, g, b]: [u8; 3]) -> [f64; 3] {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let (r, g, b) = (linear(r), linear(g), linear(b));
    let l = (0.412_221_470_8 * r + 0.536_332_536_3 * g + 0.051_445_992_9 * b).cbrt();
    let m = (0.211_903_498_2 * r + 0.680_699_545_1 * g + 0.107_396_956_6 * b).cbrt();
    let s = (0.088_302_461_9 * r + 0.281_718_837_6 * g + 0.629_978_700_5 * b).cbrt();
    [
        0.210_454_255_3 * l + 0.793_617_785_0 * m - 0.004_072_046_8 * s,
        1.977_998_495_1 * l - 2.428_592_205_0 * m + 0.450_593_709_9 * s,
        0.025_904_037_1 * l + 0.782_771_766_2 * m - 0.808_675_766_0 * s,
    ]
}

fn from_oklab([l, a, b]: [f64; 3]) -> [u8; 3] {
    let l_ = (l + 0.396_337_777_4 * a + 0.215_803_757_3 * b).powi(3);
    let m_ = (l - 0.105_561_345_8 * a - 0.063_854_172_8 * b).powi(3);
    let s_ = (l - 0.089_484_177_5 * a - 1.291_485_548_0 * b).powi(3);
    let gamma = |c: f64| {
        let c = if c <= 0.003_130_8 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
        (c.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    [
        gamma(4.076_741_662_1 * l_ - 3.307_711_591_3 * m_ + 0.230_969_929_2 * s_),
        gamma(-1.268_438_004_6 * l_ + 2.609_757_401_1 * m_ - 0.341_319_396_5 * s_),
        gamma(-0.004_196_086_3 * l_ - 0.703_418_614_7 * m_ + 1.707_614_701_0 * s_),
    ]
}
