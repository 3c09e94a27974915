//! Sampling helpers over a seeded `ChaCha8` stream, check characters of identity numbers, and
//! allocation-free formatting of numbers and instants.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Days from 0001-01-01 (day 1 of the common era, chrono's `num_days_from_ce`) to 1970-01-01.
pub(crate) const UNIX_EPOCH_CE: i32 = 719_163;
/// Beijing time is UTC+8 all year.
pub(crate) const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

/// A seeded random stream with the distributions the generator needs.
pub(crate) struct Rand(ChaCha8Rng);

impl Rand {
    /// The stream `stream` of the generator keyed by `seed`: streams of one key are independent.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// A uniform float in `[0, 1)`.
    pub(crate) fn f(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// A raw 64-bit value.
    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform index below `n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n.max(1))
    }

    /// A uniform integer in `lo..=hi` (`lo` when the range is empty).
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.0.random_range(lo..=hi)
        }
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A standard normal variate (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f();
        let u2 = self.f();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal variate with the given median and log-scale spread.
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// A Poisson variate (inversion for small means, a rounded normal for large ones).
    pub(crate) fn poisson(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 40.0 {
            return to_u32((mean + mean.sqrt() * self.normal()).round().max(0.0));
        }
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.f();
        while p > limit {
            k += 1;
            p *= self.f();
        }
        k
    }

    /// An index drawn with the given relative integer weights.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.0.random_range(0..total.max(1));
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len().saturating_sub(1)
    }

    /// An index drawn by weight from an inclusive prefix-sum table (`cum[i]` = sum of weights
    /// `0..=i`), in logarithmic time.
    pub(crate) fn cumulative(&mut self, cum: &[u64]) -> usize {
        let total = cum.last().copied().unwrap_or(0);
        let x = self.0.random_range(0..total.max(1));
        cum.partition_point(|&c| c <= x)
            .min(cum.len().saturating_sub(1))
    }
}

/// Converts a non-negative float to `i64`, saturating.
#[expect(
    clippy::cast_possible_truncation,
    reason = "saturating float-to-int conversion is the intent"
)]
pub(crate) fn to_i64(x: f64) -> i64 {
    x as i64
}

/// Converts a non-negative float to `u32`, saturating (negative values become 0).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "saturating float-to-int conversion is the intent"
)]
pub(crate) fn to_u32(x: f64) -> u32 {
    x as u32
}

/// Rounds an amount in yuan to fen, at least 1 fen.
pub(crate) fn fen(yuan: f64) -> i64 {
    to_i64((yuan * 100.0).round()).max(1)
}

/// Rounds an amount in yuan down to a multiple of `step` yuan, in fen, at least one step.
pub(crate) fn fen_round(yuan: f64, step: i64) -> i64 {
    (to_i64(yuan) / step).max(1) * step * 100
}

/// The GB 11643 check character of the 17 body digits of a resident ID.
pub(crate) fn resident_id_check(body: &[u8; 17]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

/// The characters GB 32100 allows, in value order.
pub(crate) const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The GB 32100 check character of the 17 body characters of a credit code.
pub(crate) fn uscc_check(body: &[u8]) -> u8 {
    const W: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let sum: u32 = body
        .iter()
        .zip(W)
        .map(|(b, w)| {
            let v = USCC_CHARSET.iter().position(|c| c == b).unwrap_or(0);
            u32::try_from(v).unwrap_or(0) * w
        })
        .sum();
    USCC_CHARSET[((31 - sum % 31) % 31) as usize]
}

/// The GB 11714 check character of an 8-character organisation code body.
pub(crate) fn org_code_check(body: &[u8]) -> u8 {
    const W: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .iter()
        .zip(W)
        .map(|(&b, w)| {
            let v = if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                u32::from(b - b'A') + 10
            };
            v * w
        })
        .sum();
    match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        c => b'0' + u8::try_from(c).unwrap_or(0),
    }
}

/// The Luhn check digit of a card or account number body.
pub(crate) fn luhn_check(body: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &b) in body.iter().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    b'0' + u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// Writes `n` as exactly `width` decimal digits (the low ones) into `out`.
pub(crate) fn put_digits(out: &mut [u8], mut n: u64, width: usize) {
    for slot in out[..width].iter_mut().rev() {
        *slot = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
    }
}

/// A small stack buffer that formats integers and instants without allocating.
pub(crate) struct NumBuf {
    buf: [u8; 24],
}

impl NumBuf {
    pub(crate) fn new() -> Self {
        Self { buf: [0; 24] }
    }

    /// The decimal form of `n`.
    pub(crate) fn int(&mut self, n: i64) -> &[u8] {
        let mut i = self.buf.len();
        let mut v = n.unsigned_abs();
        loop {
            i -= 1;
            self.buf[i] = b'0' + u8::try_from(v % 10).unwrap_or(0);
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if n < 0 {
            i -= 1;
            self.buf[i] = b'-';
        }
        &self.buf[i..]
    }

    /// `prefix` followed by `n` in at least `width` digits.
    pub(crate) fn prefixed(&mut self, prefix: u8, n: u64, width: usize) -> &[u8] {
        let mut digits = 1;
        let mut v = n / 10;
        while v > 0 {
            digits += 1;
            v /= 10;
        }
        let width = width.max(digits).min(self.buf.len() - 1);
        self.buf[0] = prefix;
        put_digits(&mut self.buf[1..], n, width);
        &self.buf[..=width]
    }

    /// An instant as RFC 3339 UTC with second precision, e.g. `2024-08-05T06:12:03Z`.
    pub(crate) fn rfc3339(&mut self, unix_secs: i64) -> &[u8] {
        let days = unix_secs.div_euclid(86_400);
        let secs = unix_secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let b = &mut self.buf;
        put_digits(&mut b[0..], u64::try_from(y).unwrap_or(0), 4);
        b[4] = b'-';
        put_digits(&mut b[5..], u64::from(m), 2);
        b[7] = b'-';
        put_digits(&mut b[8..], u64::from(d), 2);
        b[10] = b'T';
        let secs = u64::try_from(secs).unwrap_or(0);
        put_digits(&mut b[11..], secs / 3600, 2);
        b[13] = b':';
        put_digits(&mut b[14..], secs / 60 % 60, 2);
        b[16] = b':';
        put_digits(&mut b[17..], secs % 60, 2);
        b[19] = b'Z';
        &b[..20]
    }

    /// A date as `%Y-%m-%d`.
    pub(crate) fn date(&mut self, date: chrono::NaiveDate) -> &[u8] {
        use chrono::Datelike;
        let b = &mut self.buf;
        put_digits(&mut b[0..], u64::try_from(date.year()).unwrap_or(0), 4);
        b[4] = b'-';
        put_digits(&mut b[5..], u64::from(date.month()), 2);
        b[7] = b'-';
        put_digits(&mut b[8..], u64::from(date.day()), 2);
        &b[..10]
    }
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};

    #[test]
    fn instants_format_like_chrono() {
        let mut buf = NumBuf::new();
        for secs in [
            0_i64,
            951_782_400,
            1_722_838_323,
            1_793_491_199,
            4_102_444_800,
        ] {
            let expected = DateTime::from_timestamp(secs, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            assert_eq!(
                std::str::from_utf8(buf.rfc3339(secs)),
                Ok(expected.as_str())
            );
        }
        let d = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or_default();
        assert_eq!(buf.date(d), b"2026-10-31");
        assert_eq!(buf.int(-120), b"-120");
        assert_eq!(buf.int(0), b"0");
        assert_eq!(buf.prefixed(b'T', 42, 12), b"T000000000042");
    }

    #[test]
    fn luhn_matches_a_known_card_number() {
        // 4111 1111 1111 1111 is the standard Luhn-valid test number.
        assert_eq!(luhn_check(b"411111111111111"), b'1');
    }

    #[test]
    fn org_code_check_matches_a_published_code() {
        // 91500103364F1807X6: organisation code 364F1807X.
        assert_eq!(org_code_check(b"364F1807"), b'X');
    }
}
