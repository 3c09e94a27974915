//! Chinese personal and firm names.

use crate::tables::{BRAND_CHARS, CITIES, GIVEN, GIVEN_GROUP, INDUSTRIES, SURNAMES};
use crate::util::Rand;
use std::sync::OnceLock;

/// A person's name as indexes into the surname and given-character tables: cheap to copy and to
/// keep on a transaction as its counterparty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PersonName {
    surname: u16,
    given: [u16; 2],
    given_len: u8,
}

fn surname_cum() -> &'static [u64] {
    static CUM: OnceLock<Vec<u64>> = OnceLock::new();
    CUM.get_or_init(|| {
        let mut total = 0;
        SURNAMES
            .iter()
            .map(|s| {
                total += u64::from(s.2);
                total
            })
            .collect()
    })
}

impl PersonName {
    /// A random name for a person of the given sex born in `birth_year`: names follow the
    /// fashions of their generation, and single-character given names peak in the 1980s.
    pub(crate) fn random(rng: &mut Rand, male: bool, birth_year: i32) -> Self {
        let surname = rng.cumulative(surname_cum());
        let generation = if birth_year < 1966 {
            0
        } else if birth_year < 1990 {
            1
        } else {
            2
        };
        let single_p = [0.3, 0.38, 0.15][generation];
        let base = if male { 0 } else { 3 * GIVEN_GROUP };
        let draw = |rng: &mut Rand| {
            // Mostly the own generation's characters, sometimes a neighbouring one.
            let g = match rng.below(10) {
                0 => generation.saturating_sub(1),
                1 => (generation + 1).min(2),
                _ => generation,
            };
            u16::try_from(base + g * GIVEN_GROUP + rng.below(GIVEN_GROUP)).unwrap_or(0)
        };
        let first = draw(rng);
        let (second, len) = if rng.chance(single_p) {
            (0, 1)
        } else {
            let mut second = draw(rng);
            if GIVEN[usize::from(second)].0 == GIVEN[usize::from(first)].0 && rng.chance(0.8) {
                second = draw(rng);
            }
            (second, 2)
        };
        Self {
            surname: u16::try_from(surname).unwrap_or(0),
            given: [first, second],
            given_len: len,
        }
    }

    /// The same given name with another surname (a child taking a parent's surname).
    pub(crate) fn with_surname_of(self, other: PersonName) -> Self {
        Self {
            surname: other.surname,
            ..self
        }
    }

    /// Appends the name in Chinese script.
    pub(crate) fn push_to(self, out: &mut String) {
        out.push_str(SURNAMES[usize::from(self.surname)].0);
        for &g in &self.given[..usize::from(self.given_len)] {
            out.push_str(GIVEN[usize::from(g)].0);
        }
    }

    /// The surname in Chinese script.
    pub(crate) fn surname(self) -> &'static str {
        SURNAMES[usize::from(self.surname)].0
    }

    /// The name in Chinese script.
    pub(crate) fn chinese(self) -> String {
        let mut s = String::with_capacity(12);
        self.push_to(&mut s);
        s
    }

    /// The name in pinyin as on a passport's Latin line: `Zhang Weimin`.
    pub(crate) fn pinyin(self) -> String {
        let mut s = String::with_capacity(20);
        s.push_str(SURNAMES[usize::from(self.surname)].1);
        s.push(' ');
        for (i, &g) in self.given[..usize::from(self.given_len)].iter().enumerate() {
            let py = GIVEN[usize::from(g)].1;
            if i == 0 {
                let mut chars = py.chars();
                if let Some(c) = chars.next() {
                    s.push(c.to_ascii_uppercase());
                    s.push_str(chars.as_str());
                }
            } else {
                s.push_str(py);
            }
        }
        s
    }

    /// The surname's pinyin in lower case, for e-mail addresses.
    pub(crate) fn login(self) -> String {
        let mut s = self.pinyin().to_ascii_lowercase();
        s.retain(|c| c != ' ');
        s
    }
}

/// A firm's name as indexes: city, 字号 (two brand characters), industry and legal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FirmName {
    pub city: u8,
    pub brand: [u8; 2],
    pub industry: u8,
    pub form: u8,
}

/// Legal forms, by index.
const FORMS: &[&str] = &["有限公司", "股份有限公司", "有限责任公司", "集团有限公司"];
/// Index of the group form in [`FORMS`].
pub(crate) const FORM_GROUP: u8 = 3;

impl FirmName {
    /// A random firm name of a city.
    pub(crate) fn random(rng: &mut Rand, city: usize) -> Self {
        let a = rng.below(BRAND_CHARS.len());
        let mut b = rng.below(BRAND_CHARS.len());
        if b == a {
            b = (b + 1) % BRAND_CHARS.len();
        }
        let form = match rng.below(100) {
            0..=71 => 0,
            72..=85 => 1,
            _ => 2,
        };
        Self {
            city: u8::try_from(city).unwrap_or(0),
            brand: [u8::try_from(a).unwrap_or(0), u8::try_from(b).unwrap_or(0)],
            industry: u8::try_from(rng.below(INDUSTRIES.len())).unwrap_or(0),
            form,
        }
    }

    /// Appends the name, e.g. 杭州恒通科技有限公司 (a group: 杭州恒通集团有限公司).
    pub(crate) fn push_to(self, out: &mut String) {
        out.push_str(CITIES[usize::from(self.city)].name);
        out.push_str(BRAND_CHARS[usize::from(self.brand[0])]);
        out.push_str(BRAND_CHARS[usize::from(self.brand[1])]);
        if self.form != FORM_GROUP {
            out.push_str(INDUSTRIES[usize::from(self.industry)].0);
        }
        out.push_str(FORMS[usize::from(self.form)]);
    }

    /// The name.
    pub(crate) fn text(self) -> String {
        let mut s = String::with_capacity(48);
        self.push_to(&mut s);
        s
    }

    /// The GB/T 4754 industry code.
    pub(crate) fn industry_code(self) -> &'static str {
        INDUSTRIES[usize::from(self.industry)].1
    }
}
