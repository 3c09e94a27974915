//! Default masks for personal information, applied wherever a value is shown without an audited
//! reveal (SECURITY.md §2.2).

/// Keeps the last `keep` characters and replaces the rest with `*`.
pub fn mask_tail(s: &str, keep: usize) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + keep < n { '*' } else { c })
        .collect()
}

/// A resident ID shows its last 4 characters only; the birth date is never revealed.
pub fn mask_id_number(s: &str) -> String {
    mask_tail(s, 4)
}

/// A mobile number shows the first 3 and last 4 digits: `138****5678`.
pub fn mask_phone(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 8 {
        return mask_tail(s, 2);
    }
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 3 || i + 4 >= n { *c } else { '*' })
        .collect()
}

/// An account or card number shows its last 4 digits only (PCI DSS 3.4.1 allows at most
/// BIN + last 4; fincrm shows less by default).
pub fn mask_account(s: &str) -> String {
    mask_tail(s, 4)
}

/// A person's name keeps its first character: `张**`.
pub fn mask_name(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        out.push(if i == 0 { c } else { '*' });
    }
    out
}

/// An address keeps its first 6 characters (the city and district) and masks the rest.
pub fn mask_address(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 { c } else { '*' })
        .collect()
}

/// An e-mail address keeps the first character of the local part and the domain:
/// `z***@example.com`. Without an `@`, only the first character is kept.
pub fn mask_email(s: &str) -> String {
    let (local, domain) = s.rsplit_once('@').unwrap_or((s, ""));
    let first: String = local.chars().take(1).collect();
    if domain.is_empty() {
        format!("{first}***")
    } else {
        format!("{first}***@{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_the_documented_shapes() {
        assert_eq!(mask_id_number("110105199801139234"), "**************9234");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_account("6222624244768538"), "************8538");
        assert_eq!(mask_name("张浩诺"), "张**");
        assert_eq!(
            mask_address("杭州市西湖区学府路808号"),
            "杭州市西湖区*******"
        );
        assert_eq!(mask_tail("ab", 4), "ab");
        assert_eq!(mask_email("zhang.san@example.com"), "z***@example.com");
        assert_eq!(mask_email("nobody"), "n***");
    }
}
