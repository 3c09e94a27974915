//! The organisation: the bank → branch → sub-branch tree, staff, and who covers which customer.

use crate::{BranchId, CustomerId, UserId, ValidationError, party::string_enum};
use serde::{Deserialize, Serialize};

string_enum!(
    /// A node's level in the bank's organisation tree.
    BranchLevel, "level" {
        /// 总行.
        HeadOffice = "head_office",
        /// 分行.
        Branch = "branch",
        /// 支行.
        SubBranch = "sub_branch",
    }
);

/// A node of the organisation tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// Branch code.
    pub id: BranchId,
    /// Name, e.g. 杭州分行.
    pub name: String,
    /// Parent node; `None` for the head office.
    pub parent: Option<BranchId>,
    /// Level in the tree.
    pub level: BranchLevel,
}

impl BranchLevel {
    /// Depth in the tree: the head office is 0, a sub-branch 2.
    fn depth(self) -> u8 {
        match self {
            Self::HeadOffice => 0,
            Self::Branch => 1,
            Self::SubBranch => 2,
        }
    }
}

/// Checks that putting `node` into the tree `existing` (as a new node, or in place of the node
/// with its id) keeps a tree a bank can run on: one head office, at the root; every other node
/// under an existing parent of a higher level (a 支行 under a 分行 or the 总行, a 分行 under the
/// 总行), so the node's children stay below it, and no node becomes its own ancestor.
///
/// Extracts may carry hand-edited trees that break these rules; they are loaded as they are
/// (scope queries stop at a cycle). The rule guards changes made in fincrm.
pub fn check_tree_change(existing: &[Branch], node: &Branch) -> Result<(), ValidationError> {
    let find = |id: &BranchId| existing.iter().find(|b| &b.id == id);
    match (&node.parent, node.level) {
        (None, BranchLevel::HeadOffice) => {
            if existing
                .iter()
                .any(|b| b.level == BranchLevel::HeadOffice && b.id != node.id)
            {
                return Err(ValidationError::new(
                    "level",
                    "the bank has a head office already; a second one cannot be added",
                ));
            }
        }
        (Some(_), BranchLevel::HeadOffice) => {
            return Err(ValidationError::new(
                "parent",
                "the head office is the root of the tree and has no parent",
            ));
        }
        (None, _) => {
            return Err(ValidationError::new(
                "parent",
                "a branch or sub-branch needs a parent",
            ));
        }
        (Some(parent_id), level) => {
            let parent =
                find(parent_id).ok_or_else(|| ValidationError::new("parent", "no such branch"))?;
            if parent.level.depth() >= level.depth() {
                return Err(ValidationError::new(
                    "parent",
                    format!(
                        "a {} cannot sit under a {}",
                        level.as_str(),
                        parent.level.as_str()
                    ),
                ));
            }
            // Walk up from the parent: meeting the node means the change closes a loop.
            let mut seen = std::collections::HashSet::new();
            let mut at = Some(parent_id);
            while let Some(id) = at {
                if id == &node.id {
                    return Err(ValidationError::new(
                        "parent",
                        "the branch would become its own ancestor",
                    ));
                }
                if !seen.insert(id) {
                    break;
                }
                at = find(id).and_then(|b| b.parent.as_ref());
            }
        }
    }
    if let Some(child) = existing.iter().find(|b| {
        b.parent.as_ref() == Some(&node.id)
            && b.id != node.id
            && b.level.depth() <= node.level.depth()
    }) {
        return Err(ValidationError::new(
            "level",
            format!(
                "its {} {} would no longer sit below it",
                child.level.as_str(),
                child.id.as_str()
            ),
        ));
    }
    Ok(())
}

string_enum!(
    /// A staff role. What each may see and do is the permission matrix of the security core.
    StaffRole, "role" {
        /// 系统管理员.
        Admin = "admin",
        /// 总行分析.
        HeadOfficeAnalyst = "head_office_analyst",
        /// 支行行长 / 部门负责人.
        BranchManager = "branch_manager",
        /// 客户经理.
        RelationshipManager = "relationship_manager",
        /// 客服.
        ServiceAgent = "service_agent",
        /// 风险经理.
        RiskOfficer = "risk_officer",
        /// 营销.
        Marketing = "marketing",
        /// 内审 / 合规.
        Auditor = "auditor",
    }
);

/// A member of staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Employee number.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// The branch the user belongs to.
    pub branch_id: BranchId,
    /// Role.
    pub role: StaffRole,
}

string_enum!(
    /// How a member of staff covers a customer.
    CoverageRole, "coverage_role" {
        /// The primary relationship manager (主办客户经理).
        Primary = "primary",
        /// A co-covering RM (协办客户经理).
        CoRm = "co_rm",
        /// A product specialist on the coverage team.
        ProductSpecialist = "product_specialist",
        /// A credit / risk manager on the coverage team.
        RiskManager = "risk_manager",
    }
);

/// One line of an RM's book: a user covering a customer in a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The customer covered.
    pub customer_id: CustomerId,
    /// The user covering them.
    pub user_id: UserId,
    /// In which role.
    pub role: CoverageRole,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test data is valid")]

    use super::*;

    fn node(id: &str, parent: Option<&str>, level: BranchLevel) -> Branch {
        Branch {
            id: BranchId::parse(id).unwrap(),
            name: id.to_owned(),
            parent: parent.map(|p| BranchId::parse(p).unwrap()),
            level,
        }
    }

    /// HO → B1 → S1, HO → B2.
    fn tree() -> Vec<Branch> {
        vec![
            node("HO", None, BranchLevel::HeadOffice),
            node("B1", Some("HO"), BranchLevel::Branch),
            node("S1", Some("B1"), BranchLevel::SubBranch),
            node("B2", Some("HO"), BranchLevel::Branch),
        ]
    }

    fn refused(node: &Branch) -> String {
        let e = check_tree_change(&tree(), node).unwrap_err();
        format!("{}: {}", e.field, e.reason)
    }

    #[test]
    fn well_placed_nodes_pass() {
        let t = tree();
        for ok in [
            node("S2", Some("B2"), BranchLevel::SubBranch),
            node("S3", Some("HO"), BranchLevel::SubBranch),
            node("B3", Some("HO"), BranchLevel::Branch),
            node("S1", Some("B2"), BranchLevel::SubBranch),
            node("HO", None, BranchLevel::HeadOffice),
        ] {
            assert_eq!(check_tree_change(&t, &ok), Ok(()), "{}", ok.id.as_str());
        }
    }

    #[test]
    fn misplaced_nodes_are_refused_with_the_reason() {
        assert!(
            refused(&node("H2", None, BranchLevel::HeadOffice)).contains("head office already")
        );
        assert!(refused(&node("B3", None, BranchLevel::Branch)).starts_with("parent: "));
        assert!(refused(&node("B3", Some("NOPE"), BranchLevel::Branch)).contains("no such branch"));
        assert!(refused(&node("B3", Some("S1"), BranchLevel::Branch)).contains("cannot sit under"));
        assert!(
            refused(&node("S2", Some("S1"), BranchLevel::SubBranch)).contains("cannot sit under")
        );
        assert!(refused(&node("HO", Some("B1"), BranchLevel::HeadOffice)).contains("no parent"));
        // B1 demoted to a sub-branch would have S1 at its own level.
        assert!(refused(&node("B1", Some("HO"), BranchLevel::SubBranch)).contains("S1"));
    }

    #[test]
    fn a_loop_in_a_loaded_tree_is_caught() {
        // An extract with a loop, loaded as it came: Z (marked head office) → Y → Z.
        let mut t = tree();
        t.push(node("X", Some("Y"), BranchLevel::SubBranch));
        t.push(node("Y", Some("Z"), BranchLevel::Branch));
        t.push(node("Z", Some("Y"), BranchLevel::HeadOffice));
        // Y placed under Z (a head-office-level node) whose parent is Y: its own ancestor.
        let e = check_tree_change(&t, &node("Y", Some("Z"), BranchLevel::Branch)).unwrap_err();
        assert!(e.reason.contains("own ancestor"), "{e:?}");
    }
}
