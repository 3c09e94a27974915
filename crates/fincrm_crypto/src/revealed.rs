//! The clear value of a decrypted field, wrapped so it cannot be printed by accident.

use std::fmt;
use zeroize::Zeroizing;

/// A decrypted personal-information value.
///
/// `Debug` and `Display` print `****` (not even the length), there is no `Serialize`, and the
/// memory is zeroed on drop. The clear text is reached only through [`Revealed::expose`], whose
/// call sites are the places to review: the audited reveal of SECURITY.md §2.2, re-encryption and
/// index rebuilds. For the default masked display use [`Revealed::masked_with`] with the field's
/// mask from `fincrm_domain::masking` (`mask_phone`, `mask_id_number`, …).
#[derive(Clone)]
pub struct Revealed(Zeroizing<String>);

impl Revealed {
    /// Wraps a clear value.
    pub fn new(clear: String) -> Self {
        Self(Zeroizing::new(clear))
    }

    /// The clear text. Every call is a disclosure: audit it, or keep it inside the process.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value under a mask, such as `fincrm_domain::masking::mask_phone`.
    pub fn masked_with(&self, mask: impl FnOnce(&str) -> String) -> String {
        mask(&self.0)
    }
}

impl From<String> for Revealed {
    fn from(clear: String) -> Self {
        Self::new(clear)
    }
}

impl fmt::Debug for Revealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Revealed(****)")
    }
}

impl fmt::Display for Revealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_nothing_of_the_value() {
        let r = Revealed::new("13812345678".to_owned());
        assert_eq!(format!("{r:?}"), "Revealed(****)");
        assert_eq!(format!("{r}"), "****");
        assert_eq!(format!("{r:#?} {r:>20}"), "Revealed(****) ****");
        assert_eq!(r.expose(), "13812345678");
        let tail = r.masked_with(|s| format!("***{}", &s[s.len() - 4..]));
        assert_eq!(tail, "***5678");
    }
}
